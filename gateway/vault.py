"""Sealing values for storage: encryption bound to table, column and row, plus blind indexes."""

from __future__ import annotations

from gateway.crypto import BlindIndex, KeyFormatError, KeyRing, aad
from gateway.settings import Settings, SettingsError


class Vault:
    """The one object the shell uses to store and find health information."""

    __slots__ = ("index", "keys")

    def __init__(self, keys: KeyRing, index: BlindIndex) -> None:
        self.keys = keys
        self.index = index

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        try:
            return cls(
                KeyRing.parse(settings.secret("encryption_keys")),
                BlindIndex.parse(settings.secret("index_key")),
            )
        except KeyFormatError as exc:
            raise SettingsError(str(exc)) from None

    def seal(self, table: str, column: str, row_id: str, plaintext: str) -> bytes:
        return self.keys.encrypt(plaintext, aad(table, column, row_id))

    def open(self, table: str, column: str, row_id: str, blob: bytes) -> str:
        return self.keys.decrypt(blob, aad(table, column, row_id))

    def phone_index(self, phone: str) -> str:
        return self.index.digest(phone.strip())

    def __repr__(self) -> str:
        return f"Vault(keys={self.keys!r}, index={self.index!r})"
