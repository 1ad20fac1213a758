"""Encryption at rest and the blind index for phone numbers.

Keys come from the environment as `id:key` entries (`gateway keys new`). Values are encrypted
with AES-256-GCM under the first key of `GATEWAY_ENCRYPTION_KEYS`; every key of the ring
decrypts, so a key is rotated by putting a new one first and re-encrypting at leisure.

Nothing here puts key material, plaintext or ciphertext into an exception or a repr: those
are logged, and the values are health information.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import secrets
import struct
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_BYTES",
    "BlindIndex",
    "DecryptionError",
    "IndexKeyMismatchError",
    "KeyFormatError",
    "KeyRing",
    "aad",
    "development_keys",
    "new_key",
]

KEY_BYTES: Final = 32

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Checked before decoding because `urlsafe_b64decode` silently skips characters outside its
# alphabet, which would accept a mistyped key.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")

_BLOB_VERSION: Final = 1
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_AAD_LABEL: Final = b"boundary-gateway/aad/v1"


class KeyFormatError(ValueError):
    """A key setting that cannot be used; names the entry by position and id, never the key."""

    def __init__(
        self,
        setting_name: str,
        reason: str,
        *,
        position: int | None = None,
        key_id: str | None = None,
    ) -> None:
        self.setting_name = setting_name
        self.position = position
        self.key_id = key_id
        self.reason = reason
        where = setting_name
        if position is not None:
            where += f" entry {position}"
            if key_id is not None:
                where += f' ("{key_id}")'
        super().__init__(f"{where}: {reason}")


class DecryptionError(Exception):
    """A stored value that cannot be decrypted; names only the key id and the reason."""

    def __init__(self, reason: str, *, key_id: str | None = None) -> None:
        self.key_id = key_id
        self.reason = reason
        super().__init__(f'key "{key_id}": {reason}' if key_id is not None else reason)


class IndexKeyMismatchError(Exception):
    """The blind index key is not the one the stored phone indexes were made with: no phone
    would match its client, its therapist or its opt-out."""

    def __init__(self) -> None:
        super().__init__(
            "GATEWAY_INDEX_KEY is not the key this database's phone indexes were made with"
        )


def new_key() -> str:
    """A fresh `id:key` entry for `GATEWAY_ENCRYPTION_KEYS` or `GATEWAY_INDEX_KEY`."""
    key_id = "k" + secrets.token_hex(4)
    return f"{key_id}:{_encode_key(secrets.token_bytes(KEY_BYTES))}"


def development_keys() -> dict[str, str]:
    """Fresh secrets for a development `.env`: signatures and encryption work as in production."""
    return {
        "GATEWAY_ENCRYPTION_KEYS": new_key(),
        "GATEWAY_INDEX_KEY": new_key(),
        "GATEWAY_SESSION_SECRET": secrets.token_urlsafe(32),
        # Twilio auth tokens are 32 lowercase hex characters.
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
    }


def aad(table: str, column: str, row_id: str) -> bytes:
    """The associated data that binds a ciphertext to its table, column and row.

    Each part is length-prefixed, so no two different triples share an encoding whatever
    characters they contain.
    """
    parts = {"table": table, "column": column, "row_id": row_id}
    encoded = [_AAD_LABEL]
    for name, part in parts.items():
        if not isinstance(part, str) or not part:
            raise ValueError(f"aad {name} must be a non-empty string")
        raw = part.encode("utf-8")
        encoded.append(struct.pack(">I", len(raw)))
        encoded.append(raw)
    return b"".join(encoded)


class KeyRing:
    """AES-256-GCM keys: the first encrypts, every one decrypts."""

    __slots__ = ("_ciphers", "_primary_id", "_setting_name")

    def __init__(
        self,
        keys: Sequence[tuple[str, bytes]],
        setting_name: str = "GATEWAY_ENCRYPTION_KEYS",
    ) -> None:
        if not keys:
            raise KeyFormatError(setting_name, "needs at least one id:key entry")
        ciphers: dict[str, AESGCM] = {}
        for position, (key_id, key) in enumerate(keys, start=1):
            _check_entry(setting_name, position, key_id, key)
            if key_id in ciphers:
                raise KeyFormatError(
                    setting_name, "duplicate key id", position=position, key_id=key_id
                )
            ciphers[key_id] = AESGCM(key)
        self._ciphers = ciphers
        self._primary_id = keys[0][0]
        self._setting_name = setting_name

    @classmethod
    def parse(cls, value: str, setting_name: str = "GATEWAY_ENCRYPTION_KEYS") -> KeyRing:
        """The ring from comma-separated `id:key` entries; the first encrypts."""
        return cls(_parse_entries(value, setting_name), setting_name)

    @property
    def primary_id(self) -> str:
        return self._primary_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, the primary first."""
        return tuple(self._ciphers)

    def encrypt(self, plaintext: str, aad: bytes) -> bytes:
        header = _header(self._primary_id)
        # A random 96-bit nonce per value is safe for far more values than a practice stores
        # under one key (the bound is about 2**32).
        nonce = os.urandom(_NONCE_BYTES)
        # The header is authenticated too, so its version and key id cannot be swapped.
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError:
            # The codec's own message would quote part of the text.
            raise ValueError("plaintext is not valid Unicode text") from None
        sealed = self._ciphers[self._primary_id].encrypt(nonce, data, header + aad)
        return header + nonce + sealed

    def decrypt(self, blob: bytes, aad: bytes) -> str:
        key_id, header_length = _read_header(blob)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(f"unknown key id (not in {self._setting_name})", key_id=key_id)
        header = blob[:header_length]
        nonce = blob[header_length : header_length + _NONCE_BYTES]
        sealed = blob[header_length + _NONCE_BYTES :]
        try:
            plaintext = cipher.decrypt(nonce, sealed, header + aad)
        except InvalidTag:
            raise DecryptionError(
                "authentication failed (wrong key, altered value, "
                "or value moved from another row or column)",
                key_id=key_id,
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("decrypted value is not UTF-8 text", key_id=key_id) from None

    def key_id_of(self, blob: bytes) -> str:
        """The id of the key that encrypted `blob`, to find values still under an old key."""
        key_id, _ = _read_header(blob)
        return key_id

    def __repr__(self) -> str:
        return f"KeyRing(primary_id={self._primary_id!r}, key_ids={list(self._ciphers)!r})"


class BlindIndex:
    """HMAC-SHA256 of a normalised value, to find phone numbers without storing them in clear."""

    __slots__ = ("_key", "_key_id")

    def __init__(self, key_id: str, key: bytes, setting_name: str = "GATEWAY_INDEX_KEY") -> None:
        _check_entry(setting_name, 1, key_id, key)
        self._key_id = key_id
        self._key = key

    @classmethod
    def parse(cls, value: str, setting_name: str = "GATEWAY_INDEX_KEY") -> BlindIndex:
        entries = _parse_entries(value, setting_name)
        if len(entries) != 1:
            raise KeyFormatError(
                setting_name, f"must hold exactly one id:key entry, not {len(entries)}"
            )
        key_id, key = entries[0]
        return cls(key_id, key, setting_name)

    @property
    def key_id(self) -> str:
        return self._key_id

    def digest(self, value: str) -> str:
        """64 hex characters; the caller normalises first (E.164 for phone numbers)."""
        return hmac.digest(self._key, value.encode("utf-8"), "sha256").hex()

    def __repr__(self) -> str:
        return f"BlindIndex(key_id={self._key_id!r})"


def _encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def _decode_key(text: str) -> bytes | None:
    if not _BASE64URL.fullmatch(text):
        return None
    unpadded = text.rstrip("=")
    try:
        key = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling is accepted, so one key has one text form.
    if len(key) != KEY_BYTES or _encode_key(key) != unpadded:
        return None
    return key


def _parse_entries(value: str, setting_name: str) -> list[tuple[str, bytes]]:
    if not value.strip():
        raise KeyFormatError(
            setting_name, "must not be empty; expected id:key entries separated by commas"
        )
    entries: list[tuple[str, bytes]] = []
    for position, raw in enumerate(value.split(","), start=1):
        entry = raw.strip()
        if not entry:
            raise KeyFormatError(setting_name, "empty entry (stray comma?)", position=position)
        key_id, colon, key_text = entry.partition(":")
        key_id = key_id.strip()
        if not colon:
            raise KeyFormatError(setting_name, "expected id:key", position=position)
        if not _KEY_ID.fullmatch(key_id):
            # The text is not echoed: a key pasted without its id would land here.
            raise KeyFormatError(
                setting_name,
                'key id must be 1 to 32 letters, digits, "_" or "-"',
                position=position,
            )
        key = _decode_key(key_text.strip())
        if key is None:
            raise KeyFormatError(
                setting_name,
                f"key must be {KEY_BYTES} bytes of base64url",
                position=position,
                key_id=key_id,
            )
        entries.append((key_id, key))
    return entries


def _check_entry(setting_name: str, position: int, key_id: str, key: bytes) -> None:
    if not _KEY_ID.fullmatch(key_id):
        raise KeyFormatError(
            setting_name, 'key id must be 1 to 32 letters, digits, "_" or "-"', position=position
        )
    if len(key) != KEY_BYTES:
        raise KeyFormatError(
            setting_name, f"key must be {KEY_BYTES} bytes", position=position, key_id=key_id
        )


def _header(key_id: str) -> bytes:
    raw_id = key_id.encode("ascii")
    return bytes((_BLOB_VERSION, len(raw_id))) + raw_id


def _read_header(blob: bytes) -> tuple[str, int]:
    """The key id and the header's length, or a DecryptionError for a blob we did not write."""
    if len(blob) < 2:
        raise DecryptionError("encrypted value is too short")
    if blob[0] != _BLOB_VERSION:
        raise DecryptionError(f"encrypted value has unknown format version {blob[0]}")
    header_length = 2 + blob[1]
    if len(blob) < header_length + _NONCE_BYTES + _TAG_BYTES:
        raise DecryptionError("encrypted value is too short")
    try:
        key_id = blob[2:header_length].decode("ascii")
    except UnicodeDecodeError:
        key_id = ""
    # An id that could not come from a valid key setting is not echoed into the message.
    if not _KEY_ID.fullmatch(key_id):
        raise DecryptionError("encrypted value carries a malformed key id")
    return key_id, header_length
