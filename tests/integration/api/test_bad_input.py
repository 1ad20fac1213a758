"""Bad input anywhere under /api/v1 answers a JSON 4xx that says what is wrong, never a 500."""

from __future__ import annotations

import base64
import json

import pytest

from tests.integration.api.conftest import Answer, Api, Client
from tests.integration.conftest import LEE_NUMBER, RILEY


def assert_json_error(answer: Answer, status: int) -> None:
    assert answer.status == status, answer.text
    assert set(answer.json) == {"error"}
    assert set(answer.json["error"]) == {"code", "message"}
    assert answer.json["error"]["message"]
    assert "Traceback" not in answer.text


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "100000000000000000000000", "abc", "1.5", ""])
async def test_limits_outside_one_to_a_thousand_are_refused(admin: Api, limit: str) -> None:
    for path in ("/messages", "/clients", "/audit"):
        assert_json_error(await admin.get(path, limit=limit), 400)


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "abc",
        base64.urlsafe_b64encode(b"not json").decode().rstrip("="),
        base64.urlsafe_b64encode(b'["2026-12-01T15:00:00+00:00"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'["yesterday", "x"]').decode().rstrip("="),
        # Real dates whose offset carries them outside the years a datetime can hold in UTC.
        base64.urlsafe_b64encode(b'["0001-01-01T00:00:00+14:00", "x"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'["9999-12-31T23:59:59-14:00", "x"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'["0001-01-01T00:00:00+00:00", "x"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'["9999-12-31T23:59:59.999999Z", "x"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b"[true]").decode().rstrip("="),
        base64.urlsafe_b64encode(b"[99999999999999999999999]").decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"seq": 1}').decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
        "x" * 5000,
    ],
)
async def test_cursors_this_api_did_not_give_out_are_refused(admin: Api, cursor: str) -> None:
    for path in ("/messages", "/clients", "/audit"):
        # A cursor of another list's shape may happen to decode; it never breaks anything.
        answer = await admin.get(path, cursor=cursor)
        assert answer.status in (200, 400), (path, cursor)
        assert answer.json is not None
    assert_json_error(await admin.get("/audit", cursor=cursor), 400)


async def test_unknown_or_repeated_query_parameters_are_refused(admin: Api) -> None:
    misspelt = await admin.get("/messages", clinet="c1001")
    assert_json_error(misspelt, 400)
    assert "clinet" in misspelt.json["error"]["message"]
    assert_json_error(await admin.call("GET", "/messages?flag=crisis&flag=opt_out"), 400)
    assert_json_error(await admin.get("/messages", flag="crisis%"), 400)
    unknown_flag = await admin.get("/messages", flag="urgent")
    assert_json_error(unknown_flag, 400)
    assert "after_hours" in unknown_flag.json["error"]["message"]


def preview(**changes: object) -> bytes:
    body = {"from": RILEY, "to": LEE_NUMBER, "body": "hi", "at": "2026-12-01T10:00:00Z"}
    return json.dumps(body | changes).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b"\xff\xfe",
        preview(**{"from": 1}),
        preview(body=None),
        preview(**{"from": ""}),
        preview(**{"from": "+1555\x00"}),
        preview(**{"from": "\ud800"}),
        preview(at="0001-01-01T00:00:00+14:00"),
        preview(extra=True),
        # A key twice: which one counts would be the parser's choice, not the caller's.
        preview()[:-1] + b', "from": "+15557654321"}',
        b'{"a": {"b": 1, "b": 2}}',
        b"[" * 40_000,
        ("{" + ", ".join(f'"k{n}": 0' for n in range(5_000)) + "}").encode(),
    ],
)
async def test_unusable_bodies_are_refused(admin: Api, raw: bytes) -> None:
    answer = await admin.call(
        "POST", "/preview", data=raw, headers={"Content-Type": "application/json"}
    )
    assert_json_error(answer, 400)


async def test_validation_errors_never_echo_the_input(lee: Api) -> None:
    secret = "my-very-private-words"
    answer = await lee.post("/messages", {"client": "c1002", "body": 42, "reason": secret * 50})
    assert_json_error(answer, 400)
    assert secret not in answer.text
    phone = await lee.post("/preview", {"from": RILEY, "to": LEE_NUMBER, "body": 7, "at": "x"})
    assert_json_error(phone, 400)
    assert RILEY not in phone.text


async def test_unknown_routes_and_methods_answer_json(admin: Api) -> None:
    assert_json_error(await admin.get("/nothing-here"), 404)
    not_allowed = await admin.call("PATCH", "/clients")
    assert_json_error(not_allowed, 405)
    assert "GET" in not_allowed.headers["Allow"]
    assert_json_error(await admin.get("/messages/" + "x" * 500), 404)
    assert_json_error(await admin.get("/therapists/%00/hours"), 404)


async def test_a_body_over_64_kib_is_refused(lee: Api) -> None:
    answer = await lee.call(
        "PUT",
        "/therapists/lee/hours",
        data=b'{"hours": {"mon": ["' + b"x" * 70_000 + b'"]}}',
        headers={"Content-Type": "application/json"},
    )
    assert_json_error(answer, 413)


async def test_wrong_method_and_size_come_before_the_token(gateway: Client) -> None:
    anonymous = Api(gateway, None)
    assert_json_error(await anonymous.call("GET", "/preview"), 405)
    assert_json_error(await anonymous.call("PATCH", "/clients"), 405)
    too_big = await anonymous.call(
        "POST", "/preview", data=b"x" * 70_000, headers={"Content-Type": "application/json"}
    )
    assert_json_error(too_big, 413)
    assert_json_error(await anonymous.get("/clients"), 401)


async def test_extreme_times_are_refused_not_crashed(admin: Api) -> None:
    for since in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        answer = await admin.get("/messages", since=since)
        assert answer.status in (200, 400), since
    assert_json_error(await admin.get("/messages", since="2026-02-30T00:00:00Z"), 400)


async def test_times_in_rfc_3339_lower_case_are_read_and_control_characters_refused(
    admin: Api,
) -> None:
    assert (await admin.get("/messages", since="2026-11-28t13:30:00z")).status == 200
    assert_json_error(await admin.get("/messages", since="2026-11-28T13:00:00\x00Z"), 400)
