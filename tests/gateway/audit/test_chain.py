from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.audit.chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainBuilder,
    JSONValue,
    canonical_bytes,
    entry_hash,
    format_head,
    parse_head,
    verify_chain,
)

START = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)


def build_chain(count: int) -> list[AuditRecord]:
    builder = ChainBuilder(0, GENESIS_HASH)
    return [
        builder.append(
            START + timedelta(minutes=n),
            "token:7" if n % 2 else "system",
            "message.read" if n % 3 else "hours.update",
            f"m-{n}" if n % 5 else None,
            {"reason": "supervision", "n": n, "flags": ["crisis"], "ratio": n / 7},
        )
        for n in range(count)
    ]


def forge(prev: AuditRecord, seq: int) -> AuditRecord:
    """An entry that hashes correctly and links to `prev`, as a forger with the code would make."""
    details: dict[str, JSONValue] = {"reason": "forged"}
    at = prev.at + timedelta(seconds=1)
    return AuditRecord(
        seq=seq,
        at=at,
        actor="admin",
        action="message.read",
        subject="m-x",
        details=details,
        prev_hash=prev.hash,
        hash=entry_hash(prev.hash, seq, at, "admin", "message.read", "m-x", details),
    )


def head_of(records: list[AuditRecord]) -> tuple[int, str]:
    return records[-1].seq, records[-1].hash


def test_builder_links_each_entry_to_the_previous() -> None:
    records = build_chain(3)
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert records[1].prev_hash == records[0].hash
    assert records[2].prev_hash == records[1].hash


def test_builder_head_follows_appends() -> None:
    builder = ChainBuilder(0, GENESIS_HASH)
    assert builder.head == (0, GENESIS_HASH)
    record = builder.append(START, "system", "import", None, {})
    assert builder.head == (1, record.hash)


def test_builder_continues_from_a_stored_head() -> None:
    records = build_chain(5)
    builder = ChainBuilder(*head_of(records))
    records.append(builder.append(START, "system", "import", None, {}))
    assert records[-1].seq == 6
    assert verify_chain(records).ok


def test_builder_keeps_its_own_copy_of_details() -> None:
    details: dict[str, JSONValue] = {"ids": ["a"]}
    record = ChainBuilder(0, GENESIS_HASH).append(START, "system", "import", None, details)
    details["ids"] = ["b"]
    assert record.details == {"ids": ["a"]}
    assert verify_chain([record]).ok


def test_builder_stores_time_in_utc() -> None:
    local = datetime(2026, 3, 8, 1, 30, tzinfo=timezone(timedelta(hours=-5)))
    record = ChainBuilder(0, GENESIS_HASH).append(local, "system", "import", None, {})
    assert record.at == local
    assert record.at.tzinfo is UTC


def test_builder_refuses_a_malformed_head() -> None:
    with pytest.raises(ValueError, match="genesis"):
        ChainBuilder(0, "a" * 64)
    with pytest.raises(ValueError, match="hex"):
        ChainBuilder(3, "not a hash")
    with pytest.raises(ValueError, match="non-negative"):
        ChainBuilder(-1, GENESIS_HASH)


def test_canonical_bytes_are_compact_sorted_utf8_json() -> None:
    encoded = canonical_bytes(7, START, "système", "read", None, {"b": 1, "a": [True, None]})
    assert (
        encoded
        == (
            '{"action":"read","actor":"système","at":"2026-03-08T06:30:00.000000+00:00",'
            '"details":{"a":[true,null],"b":1},"seq":7,"subject":null}'
        ).encode()
    )


def test_the_same_instant_in_any_zone_hashes_alike() -> None:
    elsewhere = START.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert canonical_bytes(1, START, "a", "b", None, {}) == canonical_bytes(
        1, elsewhere, "a", "b", None, {}
    )


def test_canonical_bytes_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="aware"):
        canonical_bytes(1, datetime(2026, 1, 1), "a", "b", None, {})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_canonical_bytes_refuse_non_finite_numbers(number: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        canonical_bytes(1, START, "a", "b", None, {"x": [number]})


def test_canonical_bytes_refuse_keys_that_json_would_rename() -> None:
    details: Any = {1: "one"}
    with pytest.raises(ValueError, match="not a string"):
        canonical_bytes(1, START, "a", "b", None, details)


def test_canonical_bytes_refuse_values_that_are_not_json_without_showing_them() -> None:
    details: Any = {"when": START, "secret": {"body": {"feeling low"}}}
    with pytest.raises(ValueError, match="not JSON") as caught:
        canonical_bytes(1, START, "a", "b", None, details)
    assert "feeling low" not in str(caught.value)


def test_entry_hash_is_hex_sha256() -> None:
    digest = entry_hash(GENESIS_HASH, 1, START, "a", "b", None, {})
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest != entry_hash("1" * 64, 1, START, "a", "b", None, {})


def test_entry_hash_separates_fields() -> None:
    assert entry_hash(GENESIS_HASH, 1, START, "ab", "c", None, {}) != entry_hash(
        GENESIS_HASH, 1, START, "a", "bc", None, {}
    )
    assert entry_hash(GENESIS_HASH, 1, START, "a", "b", None, {}) != entry_hash(
        GENESIS_HASH, 1, START, "a", "b", "null", {}
    )


def test_entry_hash_refuses_a_malformed_previous_hash() -> None:
    with pytest.raises(ValueError, match="previous hash"):
        entry_hash("ABC", 1, START, "a", "b", None, {})


def test_intact_chain_verifies() -> None:
    records = build_chain(100)
    result = verify_chain(records)
    assert result.ok
    assert result.checked == 100
    assert result.head == head_of(records)
    assert result.broken_seq is None
    assert result.problem is None


def test_intact_chain_verifies_against_its_head() -> None:
    records = build_chain(100)
    assert verify_chain(records, expect_head=head_of(records)).ok


def test_chain_grown_since_the_head_was_noted_verifies() -> None:
    records = build_chain(100)
    assert verify_chain(records, expect_head=(60, records[59].hash)).ok


def test_empty_chain_verifies_against_the_genesis_head() -> None:
    result = verify_chain([], expect_head=(0, GENESIS_HASH))
    assert result.ok
    assert result.checked == 0
    assert result.head == (0, GENESIS_HASH)


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "someone else"},
        {"details": {"reason": "audit"}},
        {"subject": None},
        {"action": "message.delete"},
        {"at": START},
    ],
    ids=["actor", "details", "subject", "action", "at"],
)
def test_edited_entry_is_named(change: dict[str, Any]) -> None:
    records = build_chain(100)
    records[41] = dataclasses.replace(records[41], **change)
    result = verify_chain(records)
    assert not result.ok
    assert result.broken_seq == 42
    assert result.problem == "entry 42: hash does not match its contents (edited?)"
    assert result.checked == 41
    assert result.head is None


def test_edited_entry_with_its_hash_recomputed_breaks_the_next_link() -> None:
    records = build_chain(100)
    edited = records[41]
    new_hash = entry_hash(
        edited.prev_hash, 42, edited.at, "intruder", edited.action, edited.subject, edited.details
    )
    records[41] = dataclasses.replace(edited, actor="intruder", hash=new_hash)
    result = verify_chain(records)
    assert result.broken_seq == 43
    assert result.problem == (
        "entry 43: previous hash does not match entry 42 (deleted or inserted entry?)"
    )


def test_deleted_middle_entry_is_found_at_the_next() -> None:
    records = build_chain(100)
    del records[41]
    result = verify_chain(records)
    assert not result.ok
    assert result.broken_seq == 43
    assert result.problem == "entry 43: entry 42 is missing (deleted?)"


def test_deleted_entries_are_named_as_a_range() -> None:
    records = build_chain(100)
    del records[41:44]
    assert verify_chain(records).problem == "entry 45: entries 42 to 44 are missing (deleted?)"


def test_deleted_first_entry_is_found() -> None:
    records = build_chain(10)
    result = verify_chain(records[1:])
    assert result.broken_seq == 2
    assert result.problem == "entry 2: entry 1 is missing (deleted?)"


def test_deleted_and_renumbered_entries_are_found() -> None:
    records = build_chain(100)
    del records[41]
    records[41:] = [dataclasses.replace(r, seq=r.seq - 1) for r in records[41:]]
    result = verify_chain(records)
    assert result.broken_seq == 42
    assert result.problem == (
        "entry 42: previous hash does not match entry 41 (deleted or inserted entry?)"
    )


def test_inserted_entry_with_a_duplicate_seq_is_found() -> None:
    records = build_chain(100)
    records.insert(50, forge(records[49], 51))
    result = verify_chain(records)
    assert result.broken_seq == 51
    assert result.problem is not None
    assert result.problem.startswith("entry 51: sequence number does not follow entry 51")


def test_inserted_entry_with_the_rest_renumbered_is_found() -> None:
    records = build_chain(100)
    tail = [dataclasses.replace(r, seq=r.seq + 1) for r in records[50:]]
    records[50:] = [forge(records[49], 51), *tail]
    result = verify_chain(records)
    assert result.broken_seq == 52
    assert result.problem == (
        "entry 52: previous hash does not match entry 51 (deleted or inserted entry?)"
    )


def test_entry_forged_at_the_start_is_found() -> None:
    records = build_chain(3)
    records[0] = dataclasses.replace(records[0], prev_hash="f" * 64)
    assert verify_chain(records).problem == (
        "entry 1: previous hash is not the genesis hash (inserted entry?)"
    )


def test_swapped_entries_are_found() -> None:
    records = build_chain(10)
    records[4], records[5] = records[5], records[4]
    result = verify_chain(records)
    assert result.broken_seq == 6
    assert result.problem == "entry 6: entry 5 is missing (deleted?)"


def test_entries_removed_from_the_end_are_found_with_the_expected_head() -> None:
    records = build_chain(100)
    head = head_of(records)
    assert verify_chain(records[:-2]).ok
    result = verify_chain(records[:-2], expect_head=head)
    assert not result.ok
    assert result.broken_seq == 99
    assert result.problem == (
        "chain ends at entry 98 but the expected head is 100 (entries removed from the end)"
    )


def test_emptied_chain_is_found_with_the_expected_head() -> None:
    records = build_chain(3)
    result = verify_chain([], expect_head=head_of(records))
    assert result.problem == (
        "chain ends at entry 0 but the expected head is 3 (entries removed from the end)"
    )


def test_head_with_another_hash_is_found() -> None:
    records = build_chain(100)
    result = verify_chain(records, expect_head=(100, "a" * 64))
    assert not result.ok
    assert result.broken_seq == 100
    assert result.problem == "entry 100: hash does not match the expected head (chain rewritten?)"


def test_rewritten_chain_is_found_against_an_earlier_head() -> None:
    original = build_chain(100)
    builder = ChainBuilder(*head_of(original[:29]))
    rewritten = original[:29] + [
        builder.append(r.at, r.actor, r.action, r.subject, {"rewritten": True})
        for r in original[29:]
    ]
    assert verify_chain(rewritten).ok
    result = verify_chain(rewritten, expect_head=(50, original[49].hash))
    assert result.broken_seq == 50


def test_naive_time_read_back_is_reported_not_raised() -> None:
    records = build_chain(3)
    records[1] = dataclasses.replace(records[1], at=records[1].at.replace(tzinfo=None))
    result = verify_chain(records)
    assert result.broken_seq == 2
    assert result.problem == (
        "entry 2: contents cannot be encoded (audit time must be an aware datetime)"
    )


def test_verify_streams_without_holding_the_chain() -> None:
    consumed = 0

    def stream() -> Iterator[AuditRecord]:
        nonlocal consumed
        builder = ChainBuilder(0, GENESIS_HASH)
        for n in range(5000):
            consumed += 1
            yield builder.append(START, "system", "tick", None, {"n": n})

    result = verify_chain(stream())
    assert result.ok
    assert result.checked == consumed == 5000


def test_verify_stops_at_the_first_break() -> None:
    records = build_chain(10)
    records[2] = dataclasses.replace(records[2], actor="x")
    pulled: list[int] = []

    def stream() -> Iterator[AuditRecord]:
        for record in records:
            pulled.append(record.seq)
            yield record

    verify_chain(stream())
    assert pulled == [1, 2, 3]


def test_head_round_trips_through_text() -> None:
    records = build_chain(3)
    text = format_head(*head_of(records))
    assert text == f"3:{records[-1].hash}"
    assert parse_head(f"  {text}\n") == head_of(records)
    assert parse_head(text.upper()) == head_of(records)


@pytest.mark.parametrize(
    "text",
    ["", "42", "42:", ":" + "a" * 64, "-1:" + "a" * 64, "4x:" + "a" * 64, "42:" + "a" * 63],
)
def test_malformed_head_text_is_refused_clearly(text: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        parse_head(text)


def test_zero_head_must_be_genesis() -> None:
    with pytest.raises(ValueError, match="genesis"):
        parse_head("0:" + "a" * 64)
    assert parse_head("0:" + GENESIS_HASH) == (0, GENESIS_HASH)


json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=8,
)
details_st = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
entries = st.tuples(
    times, st.text(max_size=10), st.text(max_size=10), st.none() | st.text(max_size=10), details_st
)


@st.composite
def chains(draw: st.DrawFn) -> list[AuditRecord]:
    builder = ChainBuilder(0, GENESIS_HASH)
    return [builder.append(*entry) for entry in draw(st.lists(entries, min_size=1, max_size=12))]


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


hashes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
mutations: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(min_value=-5, max_value=50),
    "at": times,
    "actor": st.text(max_size=10),
    "action": st.text(max_size=10),
    "subject": st.none() | st.text(max_size=10),
    "details": details_st,
    "prev_hash": hashes,
    "hash": hashes,
}


@given(chain=chains(), data=st.data())
def test_any_single_field_change_is_found_at_that_entry(
    chain: list[AuditRecord], data: st.DataObject
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1))
    field = data.draw(st.sampled_from(sorted(mutations)))
    original = chain[index]
    value = data.draw(mutations[field])
    # Compared as JSON text, so True and 1, or 1 and 1.0, count as different values.
    assume(canonical_json(value) != canonical_json(getattr(original, field)))
    chain[index] = dataclasses.replace(original, **{field: value})

    result = verify_chain(chain)

    assert not result.ok
    assert result.checked == index
    assert result.broken_seq == chain[index].seq
    assert result.problem is not None
    assert result.problem.startswith(f"entry {chain[index].seq}: ")
