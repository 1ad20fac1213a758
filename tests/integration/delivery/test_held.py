"""Held messages go when the window opens, together as one digest, and follow availability."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config_cache import ConfigCache
from gateway.db.tables import ClientRow, MessageRow, OutboxRow, TherapistRow
from gateway.importer import bump_config_version, replace_time_off
from gateway.outbox import outbox_row
from gateway.practice_config import Period
from gateway.vault import Vault
from rules.notices import digest_text, notify_digest_text, notify_text, opt_out_notice
from tests.fakes.twilio_api import FakeTwilio
from tests.integration.delivery.conftest import WorkerFactory
from tests.integration.delivery.queue import (
    LEE,
    LEE_NUMBER,
    LEE_OWN_PHONE,
    RILEY_ID,
    RILEY_NAME,
    audit_actions,
    audit_details,
    inbound_message,
    insert_rows,
    message,
    outbox,
    queue_forward,
    queue_relay,
)

NY = ZoneInfo("America/New_York")


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=NY).astimezone(UTC)


TUESDAY_EVENING = ny(1, 20)
WEDNESDAY_OPENING = ny(2, 9)
THURSDAY_OPENING = ny(3, 12)


async def change_availability(
    db: AsyncEngine, config: ConfigCache, *, time_off: date | None = None, hours: object = None
) -> None:
    async with db.begin() as connection:
        if time_off is not None:
            await replace_time_off(connection, LEE, (Period(time_off, time_off, "synthetic"),))
        if hours is not None:
            await connection.execute(
                update(TherapistRow).where(TherapistRow.id == LEE).values(hours=hours)
            )
        await bump_config_version(connection)
    assert await config.refresh()


async def test_a_held_message_is_delivered_once_when_the_window_opens(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    config: ConfigCache,
) -> None:
    message_id, outbox_id = await queue_forward(
        db, vault, "are we still on", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)

    for at in (TUESDAY_EVENING, ny(2, 3), WEDNESDAY_OPENING - timedelta(seconds=1)):
        await worker.run_once(at)
    assert fake.messages == []
    assert (await message(db, message_id)).status == "held"

    for at in (WEDNESDAY_OPENING, WEDNESDAY_OPENING + timedelta(minutes=1), ny(2, 12)):
        await worker.run_once(at)

    [sent] = fake.messages
    assert "are we still on" in sent.body
    assert (await outbox(db))[outbox_id].sent_at == WEDNESDAY_OPENING
    assert (await message(db, message_id)).status == "forwarded"


async def test_held_messages_of_one_client_go_as_one_digest(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    config: ConfigCache,
) -> None:
    queued = [
        await queue_forward(db, vault, body, at=at, deliver_at=WEDNESDAY_OPENING)
        for body, at in (
            ("first thought", TUESDAY_EVENING),
            ("second thought", TUESDAY_EVENING + timedelta(minutes=30)),
        )
    ]
    worker = await make_worker(config=config)

    await worker.run_once(WEDNESDAY_OPENING)
    await worker.run_once(WEDNESDAY_OPENING + timedelta(minutes=1))

    [sent] = fake.messages
    assert sent.to == LEE_OWN_PHONE
    assert sent.body == digest_text(RILEY_NAME, RILEY_ID, ["first thought", "second thought"])
    rows = await outbox(db)
    for message_id, outbox_id in queued:
        assert (rows[outbox_id].state, rows[outbox_id].sid) == ("sent", sent.sid)
        assert (await message(db, message_id)).status == "forwarded"
        assert await audit_actions(db, f"outbox:{outbox_id}") == ["message_sent"]


async def test_held_notices_go_as_one_notice_with_the_count(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory
) -> None:
    for minutes in (0, 10, 20):
        await queue_forward(
            db,
            vault,
            f"note {minutes}",
            at=TUESDAY_EVENING + timedelta(minutes=minutes),
            deliver_at=WEDNESDAY_OPENING,
            kind="notify",
        )

    await (await make_worker()).run_once(WEDNESDAY_OPENING)

    [sent] = fake.messages
    assert sent.body == notify_digest_text(RILEY_ID, 3)
    assert {row.sid for row in (await outbox(db)).values()} == {sent.sid}


async def test_time_off_added_meanwhile_moves_a_held_message_to_the_next_opening(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    config: ConfigCache,
) -> None:
    message_id, outbox_id = await queue_forward(
        db, vault, "see you wednesday", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await worker.run_once(TUESDAY_EVENING)
    await change_availability(db, config, time_off=date(2026, 12, 2))

    await worker.run_once(WEDNESDAY_OPENING)

    assert fake.messages == []
    assert (await outbox(db))[outbox_id].due_at == THURSDAY_OPENING
    assert (await message(db, message_id)).deliver_at == THURSDAY_OPENING
    assert "delivery_rescheduled" in await audit_actions(db, f"outbox:{outbox_id}")
    # Times leave the gateway in UTC, audit details included, whatever the therapist's zone.
    [moved] = await audit_details(db, f"outbox:{outbox_id}", "delivery_rescheduled")
    assert moved["deliver_at"] == THURSDAY_OPENING.astimezone(UTC).isoformat()
    await worker.run_once(THURSDAY_OPENING)
    assert len(fake.messages) == 1


async def test_a_held_message_found_due_at_its_time_with_stale_availability_is_moved(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    config: ConfigCache,
) -> None:
    """Another process changed availability and this one has not followed yet: the check at
    due time still holds the message back."""
    _, outbox_id = await queue_forward(
        db, vault, "see you wednesday", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await change_availability(db, config, time_off=date(2026, 12, 2))

    await worker.run_once(WEDNESDAY_OPENING)

    assert fake.messages == []
    assert (await outbox(db))[outbox_id].due_at == THURSDAY_OPENING


async def test_an_earlier_opening_after_a_change_of_hours_is_honoured(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    config: ConfigCache,
) -> None:
    message_id, _ = await queue_forward(
        db, vault, "late question", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await worker.run_once(TUESDAY_EVENING)
    await change_availability(db, config, hours={"tue": ["09:00-17:00"], "wed": ["06:00-17:00"]})

    await worker.run_once(TUESDAY_EVENING + timedelta(minutes=5))
    assert (await message(db, message_id)).deliver_at == ny(2, 6)
    await worker.run_once(ny(2, 6))

    assert len(fake.messages) == 1


async def test_a_held_message_with_no_opening_left_waits_unsent_without_a_delivery_time(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    config: ConfigCache,
) -> None:
    message_id, outbox_id = await queue_forward(
        db, vault, "anyone there", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await change_availability(db, config, hours={})

    await worker.run_once(WEDNESDAY_OPENING)

    assert fake.messages == []
    assert (await outbox(db))[outbox_id].state == "pending"
    stored = await message(db, message_id)
    assert (stored.status, stored.deliver_at) == ("held", None)
    # Looked at again a day later, it still waits; nothing is sent meanwhile.
    await worker.run_once(WEDNESDAY_OPENING + timedelta(days=1, minutes=1))
    assert fake.messages == []
    assert (await message(db, message_id)).deliver_at is None


async def test_a_message_held_through_a_spell_without_openings_goes_when_one_returns(
    db: AsyncEngine,
    vault: Vault,
    fake: FakeTwilio,
    make_worker: WorkerFactory,
    config: ConfigCache,
) -> None:
    """Availability taken away and given back: the held message is neither dropped nor left
    with its old time while there is no opening, and goes at the new one."""
    message_id, outbox_id = await queue_forward(
        db, vault, "anyone there", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await worker.run_once(TUESDAY_EVENING)
    await change_availability(db, config, hours={})
    await worker.run_once(TUESDAY_EVENING + timedelta(minutes=1))
    assert (await message(db, message_id)).deliver_at is None

    await worker.run_once(WEDNESDAY_OPENING)
    await change_availability(db, config, hours={"thu": ["12:00-17:00"]})
    await worker.run_once(WEDNESDAY_OPENING + timedelta(minutes=1))

    stored = await message(db, message_id)
    assert (stored.status, stored.deliver_at) == ("held", THURSDAY_OPENING)
    assert fake.messages == []
    await worker.run_once(THURSDAY_OPENING)
    assert len(fake.messages) == 1
    assert (await outbox(db))[outbox_id].state == "sent"


async def hold_for_inbox(db: AsyncEngine, vault: Vault) -> str:
    """A message held for Dr. Lee's inbox alone (`forward = "none"`): no send carries it."""
    held = inbound_message(
        vault, body="see you then", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    await insert_rows(db, MessageRow, [held])
    return str(held["id"])


async def test_a_message_held_for_the_inbox_alone_is_released_at_its_opening(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    message_id = await hold_for_inbox(db, vault)
    worker = await make_worker(config=config)

    await worker.run_once(WEDNESDAY_OPENING - timedelta(seconds=1))
    assert (await message(db, message_id)).status == "held"
    await worker.run_once(WEDNESDAY_OPENING)

    stored = await message(db, message_id)
    assert (stored.status, stored.deliver_at) == ("received", WEDNESDAY_OPENING)
    assert fake.messages == []
    assert "held_released" in await audit_actions(db, f"message:{message_id}")


async def test_a_message_held_for_the_inbox_alone_follows_availability(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    message_id = await hold_for_inbox(db, vault)
    worker = await make_worker(config=config)
    await worker.run_once(TUESDAY_EVENING)

    await change_availability(db, config, time_off=WEDNESDAY_OPENING.astimezone(NY).date())
    await worker.run_once(TUESDAY_EVENING + timedelta(minutes=1))
    assert (await message(db, message_id)).deliver_at == THURSDAY_OPENING
    [moved] = await audit_details(db, f"message:{message_id}", "delivery_rescheduled")
    assert moved["deliver_at"] == THURSDAY_OPENING.astimezone(UTC).isoformat()

    await change_availability(db, config, hours={})
    await worker.run_once(TUESDAY_EVENING + timedelta(minutes=2))
    assert (await message(db, message_id)).deliver_at is None
    await worker.run_once(THURSDAY_OPENING)
    assert (await message(db, message_id)).status == "held"

    await change_availability(db, config, hours={day: ["00:00-24:00"] for day in ("thu", "fri")})
    await worker.run_once(THURSDAY_OPENING + timedelta(minutes=1))
    assert (await message(db, message_id)).status == "received"
    assert fake.messages == []
    assert await audit_actions(db, f"message:{message_id}") == [
        "delivery_rescheduled",
        "delivery_rescheduled",
        "held_released",
    ]


# A held send goes as the configuration stands at its opening ------------------------------

NEW_OWN_PHONE = "+15551230077"


async def change_row(
    db: AsyncEngine, config: ConfigCache, table: Any, key: str, **values: Any
) -> None:
    async with db.begin() as connection:
        await connection.execute(update(table).where(table.id == key).values(**values))
        await bump_config_version(connection)
    assert await config.refresh()


async def test_a_held_forward_goes_to_the_phone_and_in_the_mode_of_its_opening(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    """Dr. Lee moved to notices and a new phone while it was held: the old phone never gets the
    text, and no content leaves, as `notify` promises."""
    message_id, outbox_id = await queue_forward(
        db, vault, "private words", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await change_row(
        db,
        config,
        TherapistRow,
        LEE,
        forward="notify",
        forward_to_enc=vault.seal("therapists", "forward_to", LEE, NEW_OWN_PHONE),
        forward_to_index=vault.phone_index(NEW_OWN_PHONE),
    )

    await worker.run_once(WEDNESDAY_OPENING)

    [sent] = fake.messages
    assert (sent.to, sent.body) == (NEW_OWN_PHONE, notify_text(RILEY_ID))
    assert (await outbox(db))[outbox_id].kind == "notify"
    assert (await message(db, message_id)).status == "forwarded"
    assert await audit_actions(db, f"outbox:{outbox_id}") == ["send_readdressed", "message_sent"]


async def test_a_held_forward_is_withdrawn_when_the_inbox_became_its_only_destination(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    message_id, outbox_id = await queue_forward(
        db, vault, "private words", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await change_row(db, config, TherapistRow, LEE, forward="none")

    await worker.run_once(WEDNESDAY_OPENING)

    assert fake.messages == []
    assert (await outbox(db))[outbox_id].state == "cancelled"
    assert (await message(db, message_id)).status == "received"
    assert await audit_actions(db, f"outbox:{outbox_id}") == ["send_cancelled"]


async def test_a_held_reply_goes_to_the_clients_phone_of_its_opening(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    """Riley changed numbers while a reply waited: the old number may be someone else's now."""
    _, outbox_id = await queue_relay(db, vault, "see you thursday", at=TUESDAY_EVENING)
    new_phone = "+15557650088"
    await change_row(
        db,
        config,
        ClientRow,
        RILEY_ID,
        phone_enc=vault.seal("clients", "phone", RILEY_ID, new_phone),
        phone_index=vault.phone_index(new_phone),
    )

    await (await make_worker(config=config)).run_once(TUESDAY_EVENING)

    [sent] = fake.messages
    assert (sent.to, sent.body) == (new_phone, "see you thursday")
    assert "send_readdressed" in await audit_actions(db, f"outbox:{outbox_id}")


async def test_a_held_reply_follows_the_hours_of_the_clients_therapist_now(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    """Riley moved from Dr. Lee to Sam Okafor while Dr. Lee's reply waited for her Wednesday
    opening: it goes in Riley's contact time now, Sam Okafor's Thursday 10:00 in Chicago."""
    _, outbox_id = await queue_relay(
        db, vault, "see you soon", at=TUESDAY_EVENING, deliver_at=WEDNESDAY_OPENING
    )
    worker = await make_worker(config=config)
    await worker.run_once(TUESDAY_EVENING)
    await change_row(db, config, ClientRow, RILEY_ID, therapist_id="okafor")

    await worker.run_once(TUESDAY_EVENING + timedelta(minutes=5))
    assert (await outbox(db))[outbox_id].due_at == ny(3, 11)
    await worker.run_once(WEDNESDAY_OPENING)
    assert fake.messages == []
    await worker.run_once(ny(3, 11))

    [sent] = fake.messages
    assert sent.body == "see you soon"


def _held_opt_out_notice(vault: Vault, message_id: str | None = None) -> dict[str, Any]:
    """Dr. Lee's notice of Riley's STOP at 8 PM, held until her Wednesday opening."""
    return outbox_row(
        vault,
        kind="notice",
        from_number=LEE_NUMBER,
        to_number=LEE_OWN_PHONE,
        body=opt_out_notice(RILEY_ID),
        due_at=WEDNESDAY_OPENING,
        now=TUESDAY_EVENING,
        message_id=message_id,
        therapist_id=LEE,
        client_id=RILEY_ID,
        details={"held": True},
    )


async def test_a_held_opt_out_notice_reaches_the_therapist_at_the_opening(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    """Riley texted STOP at 8 PM: Dr. Lee hears of it at her Wednesday opening, once."""
    notice = _held_opt_out_notice(vault)
    await insert_rows(db, OutboxRow, [notice])
    worker = await make_worker(config=config)
    await worker.run_once(TUESDAY_EVENING)
    await worker.run_once(WEDNESDAY_OPENING - timedelta(minutes=1))
    assert fake.messages == []
    await worker.run_once(WEDNESDAY_OPENING)
    await worker.run_once(WEDNESDAY_OPENING + timedelta(minutes=1))
    [sent] = fake.messages
    assert (sent.to, sent.body) == (LEE_OWN_PHONE, opt_out_notice(RILEY_ID))


async def test_a_moved_opt_out_notice_gives_the_opt_out_no_delivery_time(
    db: AsyncEngine, vault: Vault, fake: FakeTwilio, make_worker: WorkerFactory, config: ConfigCache
) -> None:
    """The notice of Riley's STOP follows Dr. Lee's time off; the STOP itself is never held."""
    stop = inbound_message(vault, body="STOP", at=TUESDAY_EVENING)
    notice = _held_opt_out_notice(vault, message_id=stop["id"])
    await insert_rows(db, MessageRow, [stop])
    await insert_rows(db, OutboxRow, [notice])
    worker = await make_worker(config=config)
    await worker.run_once(TUESDAY_EVENING)
    await change_availability(db, config, time_off=date(2026, 12, 2))

    await worker.run_once(WEDNESDAY_OPENING)

    assert (await outbox(db))[notice["id"]].due_at == THURSDAY_OPENING
    assert (await message(db, stop["id"])).deliver_at is None
    await worker.run_once(THURSDAY_OPENING)
    [sent] = fake.messages
    assert sent.body == opt_out_notice(RILEY_ID)
    assert (await message(db, stop["id"])).deliver_at is None
