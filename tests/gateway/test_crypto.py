from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.crypto import (
    BlindIndex,
    DecryptionError,
    KeyFormatError,
    KeyRing,
    aad,
    development_keys,
    new_key,
)

BODY = "I can't make Thursday, feeling low again"
ROW = aad("messages", "body", "m-1001")


def key_text(entry: str) -> str:
    return entry.partition(":")[2]


def test_new_key_is_a_short_id_and_32_bytes_of_unpadded_base64url() -> None:
    key_id, _, key = new_key().partition(":")
    assert re.fullmatch(r"k[0-9a-f]{8}", key_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)
    assert len(base64.urlsafe_b64decode(key + "=")) == 32


def test_new_keys_differ() -> None:
    assert new_key() != new_key()


def test_development_keys_parse_as_the_settings_expect() -> None:
    values = development_keys()
    assert set(values) == {
        "GATEWAY_ENCRYPTION_KEYS",
        "GATEWAY_INDEX_KEY",
        "GATEWAY_SESSION_SECRET",
        "TWILIO_AUTH_TOKEN",
    }
    KeyRing.parse(values["GATEWAY_ENCRYPTION_KEYS"])
    BlindIndex.parse(values["GATEWAY_INDEX_KEY"])
    assert re.fullmatch(r"[0-9a-f]{32}", values["TWILIO_AUTH_TOKEN"])
    assert len(values["GATEWAY_SESSION_SECRET"]) >= 32
    assert development_keys() != values


def test_encrypted_value_decrypts_to_the_same_text() -> None:
    ring = KeyRing.parse(new_key())
    assert ring.decrypt(ring.encrypt(BODY, ROW), ROW) == BODY


@given(st.text())
def test_any_text_round_trips(text: str) -> None:
    ring = KeyRing.parse("k1:" + key_text(new_key()))
    assert ring.decrypt(ring.encrypt(text, ROW), ROW) == text


def test_each_encryption_uses_a_fresh_nonce() -> None:
    ring = KeyRing.parse(new_key())
    first, second = ring.encrypt(BODY, ROW), ring.encrypt(BODY, ROW)
    assert first != second
    header = 2 + len(ring.primary_id)
    assert first[header : header + 12] != second[header : header + 12]


def test_blob_starts_with_version_and_key_id() -> None:
    ring = KeyRing.parse("primary:" + key_text(new_key()))
    blob = ring.encrypt(BODY, ROW)
    assert blob[0] == 1
    assert blob[1] == len("primary")
    assert blob[2:9] == b"primary"
    assert len(blob) == 2 + 7 + 12 + len(BODY.encode()) + 16
    assert BODY.encode() not in blob


@pytest.mark.parametrize(
    "other",
    [
        aad("messages", "body", "m-1002"),
        aad("messages", "sender", "m-1001"),
        aad("spool", "body", "m-1001"),
    ],
    ids=["other row", "other column", "other table"],
)
def test_value_moved_elsewhere_does_not_decrypt(other: bytes) -> None:
    ring = KeyRing.parse(new_key())
    blob = ring.encrypt(BODY, ROW)
    with pytest.raises(DecryptionError, match="authentication failed") as caught:
        ring.decrypt(blob, other)
    assert caught.value.key_id == ring.primary_id


def test_aad_parts_cannot_run_into_each_other() -> None:
    assert aad("ab", "c", "1") != aad("a", "bc", "1")
    assert aad("a", "b\x00c", "1") != aad("a", "b", "c\x001")


@pytest.mark.parametrize(
    ("table", "column", "row_id"), [("", "b", "1"), ("a", "", "1"), ("a", "b", "")]
)
def test_aad_refuses_empty_parts(table: str, column: str, row_id: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        aad(table, column, row_id)


@pytest.mark.parametrize("position", [0, 1, 2, 15, 30, -17, -1])
def test_tampered_blob_does_not_decrypt(position: int) -> None:
    ring = KeyRing.parse("k1:" + key_text(new_key()))
    blob = bytearray(ring.encrypt(BODY, ROW))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(blob), ROW)


def test_truncated_blob_does_not_decrypt() -> None:
    ring = KeyRing.parse(new_key())
    blob = ring.encrypt(BODY, ROW)
    for length in (0, 1, 2, len(blob) - 1):
        with pytest.raises(DecryptionError):
            ring.decrypt(blob[:length], ROW)


def test_unknown_key_id_fails_closed_naming_the_id() -> None:
    writer = KeyRing.parse("retired:" + key_text(new_key()))
    reader = KeyRing.parse("current:" + key_text(new_key()))
    blob = writer.encrypt(BODY, ROW)
    with pytest.raises(DecryptionError) as caught:
        reader.decrypt(blob, ROW)
    message = str(caught.value)
    assert '"retired"' in message
    assert "GATEWAY_ENCRYPTION_KEYS" in message
    assert caught.value.key_id == "retired"


def test_same_id_with_another_key_fails_closed() -> None:
    writer = KeyRing.parse("k1:" + key_text(new_key()))
    reader = KeyRing.parse("k1:" + key_text(new_key()))
    with pytest.raises(DecryptionError, match='key "k1"'):
        reader.decrypt(writer.encrypt(BODY, ROW), ROW)


def test_decryption_error_never_shows_the_blob() -> None:
    ring = KeyRing.parse(new_key())
    blob = bytearray(ring.encrypt(BODY, ROW))
    blob[-1] ^= 0x01
    with pytest.raises(DecryptionError) as caught:
        ring.decrypt(bytes(blob), ROW)
    shown = str(caught.value) + repr(caught.value)
    assert bytes(blob).hex() not in shown
    assert repr(bytes(blob)) not in shown
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_rotation_reads_old_values_and_writes_under_the_new_key() -> None:
    old, new = new_key(), new_key()
    old_id, new_id = old.partition(":")[0], new.partition(":")[0]
    blob = KeyRing.parse(old).encrypt(BODY, ROW)

    ring = KeyRing.parse(f"{new}, {old}")
    assert ring.primary_id == new_id
    assert ring.key_ids == (new_id, old_id)
    assert ring.key_id_of(blob) == old_id
    assert ring.decrypt(blob, ROW) == BODY

    rewritten = ring.encrypt(ring.decrypt(blob, ROW), ROW)
    assert ring.key_id_of(rewritten) == new_id
    assert KeyRing.parse(new).decrypt(rewritten, ROW) == BODY
    with pytest.raises(DecryptionError):
        KeyRing.parse(new).decrypt(blob, ROW)


def test_parse_tolerates_whitespace_and_padding() -> None:
    key = key_text(new_key())
    ring = KeyRing.parse(f"  a : {key}=  ,\n b:{key_text(new_key())}\n")
    assert ring.key_ids == ("a", "b")
    assert ring.decrypt(KeyRing.parse(f"a:{key}").encrypt(BODY, ROW), ROW) == BODY


def _format_error(value: str, setting_name: str = "GATEWAY_ENCRYPTION_KEYS") -> str:
    with pytest.raises(KeyFormatError) as caught:
        KeyRing.parse(value, setting_name)
    return str(caught.value)


def test_bad_key_names_its_position_and_id_but_not_the_key() -> None:
    good = new_key()
    bad_key = key_text(new_key())[:-4]
    message = _format_error(f"{good},k1:{bad_key}")
    assert message == 'GATEWAY_ENCRYPTION_KEYS entry 2 ("k1"): key must be 32 bytes of base64url'
    assert bad_key not in message
    assert key_text(good) not in message


@pytest.mark.parametrize(
    "bad_key",
    [
        base64.b64encode(bytes(range(200, 232))).decode(),  # standard alphabet: + and /
        base64.urlsafe_b64encode(bytes(31)).decode(),
        base64.urlsafe_b64encode(bytes(33)).decode(),
        "AAAA AAAA" + "A" * 34,
        "A" * 42 + "B",  # non-canonical: the unused low bits are set
        "A" * 43 + "===",
    ],
)
def test_key_that_is_not_32_bytes_of_base64url_is_refused(bad_key: str) -> None:
    message = _format_error(f"x1:{bad_key}")
    assert message.startswith('GATEWAY_ENCRYPTION_KEYS entry 1 ("x1"): ')
    assert bad_key not in message


def test_key_pasted_without_id_is_not_echoed() -> None:
    key = key_text(new_key())
    message = _format_error(f"{new_key()},{key}")
    assert message == "GATEWAY_ENCRYPTION_KEYS entry 2: expected id:key"
    assert key not in message


def test_key_pasted_as_id_is_not_echoed() -> None:
    key = key_text(new_key())
    message = _format_error(f"{key}:{key}")
    assert message.startswith("GATEWAY_ENCRYPTION_KEYS entry 1: key id must be")
    assert key not in message


def test_duplicate_key_ids_are_refused() -> None:
    message = _format_error(f"k1:{key_text(new_key())},k1:{key_text(new_key())}")
    assert message == 'GATEWAY_ENCRYPTION_KEYS entry 2 ("k1"): duplicate key id'


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_setting_is_refused(value: str) -> None:
    assert _format_error(value).startswith("GATEWAY_ENCRYPTION_KEYS: must not be empty")


def test_empty_entry_is_refused_by_position() -> None:
    assert (
        _format_error(f"{new_key()},,{new_key()}")
        == "GATEWAY_ENCRYPTION_KEYS entry 2: empty entry (stray comma?)"
    )


def test_error_names_the_setting_it_was_given() -> None:
    assert _format_error("nonsense", "OTHER_KEYS").startswith("OTHER_KEYS entry 1:")


def test_key_format_error_is_a_value_error_for_settings_validators() -> None:
    with pytest.raises(ValueError, match="GATEWAY_ENCRYPTION_KEYS"):
        KeyRing.parse("x")


def test_key_ring_repr_shows_only_ids() -> None:
    first, second = new_key(), new_key()
    ring = KeyRing.parse(f"{first},{second}")
    shown = repr(ring) + str(ring)
    assert first.partition(":")[0] in shown
    assert second.partition(":")[0] in shown
    assert key_text(first) not in shown
    assert key_text(second) not in shown


def test_key_ring_constructor_checks_keys_too() -> None:
    with pytest.raises(KeyFormatError, match=r'entry 1 \("k1"\): key must be 32 bytes'):
        KeyRing([("k1", bytes(16))])
    with pytest.raises(KeyFormatError, match="at least one"):
        KeyRing([])


def test_blind_index_is_deterministic_and_hex() -> None:
    index = BlindIndex.parse(new_key())
    digest = index.digest("+15557654321")
    assert digest == index.digest("+15557654321")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest != index.digest("+15557654322")


def test_blind_index_depends_on_the_key() -> None:
    key = key_text(new_key())
    same_key = BlindIndex.parse(f"other-id:{key}")
    assert BlindIndex.parse(f"i1:{key}").digest("+15557654321") == same_key.digest("+15557654321")
    assert BlindIndex.parse(new_key()).digest("+15557654321") != same_key.digest("+15557654321")


def test_blind_index_takes_exactly_one_key() -> None:
    with pytest.raises(KeyFormatError) as caught:
        BlindIndex.parse(f"{new_key()},{new_key()}")
    assert str(caught.value) == "GATEWAY_INDEX_KEY: must hold exactly one id:key entry, not 2"


def test_blind_index_error_names_its_setting_and_hides_the_key() -> None:
    key = key_text(new_key())[:40]
    with pytest.raises(KeyFormatError) as caught:
        BlindIndex.parse(f"i1:{key}")
    assert (
        str(caught.value) == 'GATEWAY_INDEX_KEY entry 1 ("i1"): key must be 32 bytes of base64url'
    )


def test_blind_index_repr_hides_the_key() -> None:
    entry = new_key()
    index = BlindIndex.parse(entry)
    assert repr(index) == f"BlindIndex(key_id={entry.partition(':')[0]!r})"
    assert key_text(entry) not in repr(index)


def test_text_that_cannot_be_encoded_is_refused_without_quoting_it() -> None:
    ring = KeyRing.parse(new_key())
    with pytest.raises(ValueError, match="not valid Unicode") as caught:
        ring.encrypt("feeling low \ud800", ROW)
    assert "feeling" not in str(caught.value)
    assert caught.value.__suppress_context__
