"""GET /api/v1/clients: the caller's clients, never a phone number."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings
from tests.integration.api.conftest import Api
from tests.integration.conftest import CASEY, EXAMPLE, JORDAN, RILEY, import_practice


async def test_a_therapist_lists_only_their_own_clients(lee: Api, okafor: Api) -> None:
    answer = await lee.get("/clients")
    assert answer.status == 200
    assert answer.json["next"] is None
    assert [item["id"] for item in answer.json["items"]] == ["c1001", "c1002"]
    jordan = answer.json["items"][0]
    assert jordan == {
        "id": "c1001",
        "name": "Jordan D.",
        "therapist": "lee",
        "agreement": {
            "hours": {"mon": ["08:00-21:00"], "wed": ["17:00-20:00"]},
            "note": "DBT phone coaching",
        },
    }
    assert answer.json["items"][1]["agreement"] is None
    assert [item["id"] for item in (await okafor.get("/clients")).json["items"]] == ["c2001"]


async def test_admins_list_every_client_without_phone_numbers(admin: Api) -> None:
    answer = await admin.get("/clients")
    assert [item["name"] for item in answer.json["items"]] == ["Jordan D.", "Riley M.", "Casey P."]
    for phone in (JORDAN, RILEY, CASEY):
        assert phone not in answer.text
        assert phone.removeprefix("+1") not in answer.text


async def test_clients_page_by_cursor(admin: Api) -> None:
    first = await admin.get("/clients", limit="2")
    assert [item["id"] for item in first.json["items"]] == ["c1001", "c1002"]
    second = await admin.get("/clients", limit="2", cursor=first.json["next"])
    assert [item["id"] for item in second.json["items"]] == ["c2001"]
    assert second.json["next"] is None


async def test_a_client_imported_later_is_listed_first(
    admin: Api, imported: Settings, tmp_path: Path
) -> None:
    later = tmp_path / "practice.toml"
    later.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        + '\n[[clients]]\nid = "a0001"\nname = "Avery Q."\nphone = "+15557650999"\n'
        + 'therapist = "lee"\n',
        encoding="utf-8",
    )
    await import_practice(imported, later)
    listed = [item["id"] for item in (await admin.get("/clients")).json["items"]]
    assert listed == ["a0001", "c1001", "c1002", "c2001"]
    first = await admin.get("/clients", limit="1")
    second = await admin.get("/clients", limit="2", cursor=first.json["next"])
    assert [item["id"] for item in second.json["items"]] == ["c1001", "c1002"]
