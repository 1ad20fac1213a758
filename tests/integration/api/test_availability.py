"""Hours and time off through the API: stored normalised, audited, and followed at once."""

from __future__ import annotations

from typing import Any

from gateway.http.keys import RUNTIME
from gateway.settings import Settings
from tests.integration.api.conftest import Api, Client
from tests.integration.conftest import LEE_NUMBER, RILEY, table_rows
from tests.support.clock import FixedClock
from tests.support.twilio_client import send_sms

EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


async def config_version(settings: Settings) -> int:
    [state] = await table_rows(settings, "config_state")
    return int(state.version)


async def availability_events(settings: Settings) -> list[Any]:
    return [
        row
        for row in await table_rows(settings, "audit_events")
        if row.action == "availability_changed"
    ]


async def test_hours_read_in_the_practice_file_shape(lee: Api) -> None:
    answer = await lee.get("/therapists/lee/hours")
    assert answer.status == 200
    assert answer.json["hours"] == {
        "mon": ["09:00-12:00", "13:00-17:00"],
        "tue": ["09:00-17:00"],
        "wed": ["09:00-17:00"],
        "thu": ["12:00-20:00"],
    }
    assert answer.json["public_holidays"] is True
    assert answer.json["timezone"] == "America/New_York"
    [holidays] = answer.json["time_off"]
    assert (holidays["start"], holidays["end"], holidays["note"]) == (
        "2026-12-24",
        "2026-12-26",
        "Holidays",
    )


async def test_put_then_get_round_trips_normalised_hours_and_reloads_configuration(
    gateway: Client, lee: Api, imported: Settings
) -> None:
    version = await config_version(imported)
    wanted = {
        "hours": {"tue": ["14:00-18:00", "13:00-15:00"], "mon": ["09:00-10:00", "10:00-12:00"]},
        "public_holidays": False,
    }
    answer = await lee.put("/therapists/lee/hours", wanted)
    assert answer.status == 200
    normal = {"mon": ["09:00-12:00"], "tue": ["13:00-18:00"]}
    assert answer.json["hours"] == normal
    assert answer.json["public_holidays"] is False
    again = await lee.get("/therapists/lee/hours")
    assert again.json == answer.json
    assert await config_version(imported) == version + 1
    assert (await lee.put("/therapists/lee/hours", wanted)).json == answer.json
    [event] = await availability_events(imported)  # the same hours again write nothing
    assert event.subject == "therapist:lee"
    assert event.details["change"] == "hours"
    assert event.details["hours"] == normal
    assert event.details["hours_before"]["thu"] == ["12:00-20:00"]
    assert await config_version(imported) == version + 1
    # This process reloaded at once; others poll the bumped version.
    directory = gateway.app[RUNTIME].config.directory
    assert directory is not None
    assert directory.therapist_info("lee").hours == normal


async def test_what_get_answers_can_be_edited_and_put_back_whole(lee: Api) -> None:
    shown = (await lee.get("/therapists/lee/hours")).json
    edited = {**shown, "hours": {**shown["hours"], "fri": ["09:00-13:00"]}}
    answer = await lee.put("/therapists/lee/hours", edited)
    assert answer.status == 200, answer.json
    assert answer.json == edited
    for field, value, named in (
        ("therapist", "okafor", "therapist"),
        ("timezone", "Europe/London", "practice file"),
        ("time_off", [], "time-off"),
    ):
        refused = await lee.put("/therapists/lee/hours", {**shown, field: value})
        assert refused.status == 400, field
        assert named in refused.json["error"]["message"]
    assert (await lee.get("/therapists/lee/hours")).json == edited


async def test_the_webhook_follows_new_hours_at_once(gateway: Client, lee: Api) -> None:
    assert await send_sms(gateway, RILEY, LEE_NUMBER, "before") == (200, EMPTY)
    await lee.put("/therapists/lee/hours", {"hours": {"tue": ["13:00-17:00"]}})
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "after")
    assert "today at 1:00 PM EST" in body


async def test_leaving_out_public_holidays_keeps_the_setting(lee: Api) -> None:
    await lee.put("/therapists/lee/hours", {"hours": {}, "public_holidays": False})
    answer = await lee.put("/therapists/lee/hours", {"hours": {"fri": ["21:00-02:00"]}})
    assert answer.json["public_holidays"] is False
    assert answer.json["hours"] == {"fri": ["21:00-02:00"]}


async def test_invalid_hours_get_a_precise_400_and_change_nothing(
    lee: Api, imported: Settings
) -> None:
    before = (await lee.get("/therapists/lee/hours")).json
    cases = {
        '{"hours": {"mon": ["9-5"]}}': 'hours: mon: "9" is not a time of day (HH:MM',
        '{"hours": {"mon": ["09:00"]}}': 'hours: mon: window "09:00" is not HH:MM-HH:MM',
        '{"hours": {"funday": ["09:00-17:00"]}}': 'hours: unknown day "funday"',
        '{"hours": {"mon": ["10:00-10:00"]}}': "starts and ends at the same time",
        '{"hours": {"mon": ["24:00-02:00"]}}': "starts at 24:00",
        '{"hours": {"mon": "09:00-17:00"}}': "hours.mon: Input should be a valid array",
        '{"hours": {"mon": ["09:00-17:00"]}, "public_holidays": "yes"}': "public_holidays",
        '{"hours": {"mon": ["09:00-17:00"]}, "timezone": "UTC"}': "timezone",
        '{"hours": ': "Invalid JSON",
    }
    for raw, expected in cases.items():
        answer = await lee.call(
            "PUT",
            "/therapists/lee/hours",
            data=raw.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status == 400, raw
        assert expected in answer.json["error"]["message"], (raw, answer.json)
    assert (await lee.get("/therapists/lee/hours")).json == before
    assert await availability_events(imported) == []


async def test_time_off_is_added_followed_and_removed(
    gateway: Client, lee: Api, imported: Settings, clock: FixedClock
) -> None:
    added = await lee.post(
        "/therapists/lee/time-off", {"start": "2026-12-01", "end": "2026-12-02", "note": "Course"}
    )
    assert added.status == 201
    entry = added.json
    assert set(entry) == {"id", "start", "end", "note"}
    assert (entry["start"], entry["end"], entry["note"]) == ("2026-12-01", "2026-12-02", "Course")
    listed = (await lee.get("/therapists/lee/hours")).json["time_off"]
    assert entry in listed
    _, body = await send_sms(gateway, RILEY, LEE_NUMBER, "are you in today")
    assert "Thursday at 12:00 PM EST" in body
    removed = await lee.delete(f"/therapists/lee/time-off/{entry['id']}")
    assert removed.status == 204
    assert removed.text == ""
    assert entry not in (await lee.get("/therapists/lee/hours")).json["time_off"]
    assert (await lee.delete(f"/therapists/lee/time-off/{entry['id']}")).status == 404
    assert await send_sms(gateway, RILEY, LEE_NUMBER, "never mind") == (200, EMPTY)
    changes = [event.details["change"] for event in await availability_events(imported)]
    assert changes == ["time_off_added", "time_off_removed"]


async def test_time_off_must_end_on_or_after_its_start(lee: Api) -> None:
    answer = await lee.post(
        "/therapists/lee/time-off", {"start": "2026-12-05", "end": "2026-12-04"}
    )
    assert answer.status == 400
    assert "ends before it starts" in answer.json["error"]["message"]
    bad_date = await lee.post(
        "/therapists/lee/time-off", {"start": "2026-13-01", "end": "2026-12-04"}
    )
    assert bad_date.status == 400


async def test_admins_manage_every_therapist_and_unknown_ones_are_not_found(admin: Api) -> None:
    answer = await admin.put("/therapists/okafor/hours", {"hours": {"wed": ["10:00-14:00"]}})
    assert answer.status == 200
    assert answer.json["timezone"] == "America/Chicago"
    assert (await admin.get("/therapists/nobody/hours")).status == 404
    assert (await admin.put("/therapists/nobody/hours", {"hours": {}})).status == 404
    gone = await admin.post(
        "/therapists/nobody/time-off", {"start": "2027-01-01", "end": "2027-01-01"}
    )
    assert gone.status == 404
    assert (await admin.delete("/therapists/okafor/time-off/" + "0" * 32)).status == 404


async def test_a_therapist_cannot_remove_another_therapists_time_off(
    admin: Api, lee: Api, okafor: Api
) -> None:
    entry = (
        await okafor.post(
            "/therapists/okafor/time-off", {"start": "2027-01-04", "end": "2027-01-04"}
        )
    ).json
    # Not even by naming their own id in the path with the other's entry.
    assert (await lee.delete(f"/therapists/lee/time-off/{entry['id']}")).status == 404
    assert (await lee.delete(f"/therapists/okafor/time-off/{entry['id']}")).status == 403
    assert entry in (await admin.get("/therapists/okafor/hours")).json["time_off"]


async def test_another_therapists_availability_is_403_whatever_the_body(lee: Api) -> None:
    for body in ({"hours": {"mon": ["10:00-10:00"]}}, {"hours": "none"}, {}):
        assert (await lee.put("/therapists/okafor/hours", body)).status == 403, body
    for time_off in ({"start": "2027-01-05", "end": "2027-01-04"}, {"start": 3}):
        assert (await lee.post("/therapists/okafor/time-off", time_off)).status == 403, time_off
