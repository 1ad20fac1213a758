"""Admin commands: tokens, the audit chain, key rotation, retention, and `simulate`.

Each command parses its arguments, runs one use case against the database and prints the
outcome. Secrets and the things scripts capture go to stdout; progress and problems to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final, TextIO, TypeVar

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.chain import VerifyResult, format_head, parse_head
from gateway.audit.store import read_head
from gateway.audit.verify import verify_stored_chain
from gateway.clock import SystemClock
from gateway.command_settings import command_settings
from gateway.db.engine import create_engine, reader
from gateway.db.tables import TherapistRow
from gateway.key_rotation import Progress, RotationSummary, rotate_keys
from gateway.logs import configure_logging
from gateway.retention import purge_expired_bodies
from gateway.settings import Settings
from gateway.simulate import SimulatedSms, describe, post_sms
from gateway.tokens import PREFIX, TokenInfo, create_token, list_tokens, revoke_token
from gateway.vault import Vault

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_BAD_INPUT: Final = 2
# Enough to find and fix the values that could not be rotated without flooding the terminal.
SHOWN_UNREADABLE: Final = 20
# Ten years: a token is meant to be rotated, and dates must stay representable.
MAX_EXPIRES_DAYS: Final = 3660

T = TypeVar("T")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _complain(text: str) -> None:
    sys.stderr.write(text + "\n")


def _data_settings() -> Settings:
    settings = command_settings()
    configure_logging(settings.effective_log_format)
    return settings


def _with_engine(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


# Tokens -----------------------------------------------------------------------------------


def cmd_token_create(args: argparse.Namespace) -> int:
    therapist_id: str | None = args.therapist
    if args.role == "therapist" and therapist_id is None:
        _complain("gateway token create: a therapist token needs --therapist ID")
        return EXIT_BAD_INPUT
    if args.role == "admin" and therapist_id is not None:
        _complain("gateway token create: an admin token names no therapist (drop --therapist)")
        return EXIT_BAD_INPUT
    if args.expires_days is not None and not 1 <= args.expires_days <= MAX_EXPIRES_DAYS:
        _complain(f"gateway token create: --expires-days must be 1 to {MAX_EXPIRES_DAYS}")
        return EXIT_BAD_INPUT
    settings = _data_settings()
    now = SystemClock().now()
    expires_at = now + timedelta(days=args.expires_days) if args.expires_days else None

    async def create(engine: AsyncEngine) -> tuple[str, TokenInfo] | None:
        async with engine.begin() as connection:
            if therapist_id is not None:
                known = await connection.scalar(
                    select(TherapistRow.id).where(TherapistRow.id == therapist_id)
                )
                if known is None:
                    return None
            return await create_token(
                connection,
                name=args.name,
                role=args.role,
                therapist_id=therapist_id,
                now=now,
                expires_at=expires_at,
                actor="cli:token",
            )

    created = _with_engine(settings, create)
    if created is None:
        _complain(f"gateway token create: no therapist with id {therapist_id!r}")
        return EXIT_BAD_INPUT
    secret, info = created
    _say(secret)
    _complain(f"token {info.id} created; the token above is shown only this once")
    return EXIT_OK


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.isoformat(timespec="seconds")


def token_table(tokens: list[TokenInfo]) -> list[str]:
    """One line per token, aligned; what is stored of a token, never its secret."""
    rows = [("ID", "NAME", "ROLE", "THERAPIST", "CREATED", "EXPIRES", "REVOKED")]
    rows += [
        (
            token.id,
            token.name,
            token.role,
            token.therapist_id or "-",
            _when(token.created_at),
            _when(token.expires_at),
            _when(token.revoked_at),
        )
        for token in tokens
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def cmd_token_list(_: argparse.Namespace) -> int:
    settings = _data_settings()

    async def tokens(engine: AsyncEngine) -> list[TokenInfo]:
        async with reader(engine).connect() as connection:
            return await list_tokens(connection)

    for line in token_table(_with_engine(settings, tokens)):
        _say(line)
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace) -> int:
    settings = _data_settings()
    now = SystemClock().now()

    async def revoke(engine: AsyncEngine) -> bool:
        async with engine.begin() as connection:
            return await revoke_token(connection, args.id, now=now, actor="cli:token")

    if args.id.startswith(PREFIX):
        # A secret given for the id: never repeated, not even in an error.
        _complain(
            "gateway token revoke: give the token's id (the first column of `gateway token "
            "list`), not its secret"
        )
        return EXIT_BAD_INPUT
    if not _with_engine(settings, revoke):
        _complain(f"gateway token revoke: no active token {args.id!r} (unknown or already revoked)")
        return EXIT_FAILED
    _say(f"token {args.id} revoked")
    return EXIT_OK


# The audit chain --------------------------------------------------------------------------


def cmd_audit_verify(args: argparse.Namespace) -> int:
    expect_head = None
    if args.expect_head is not None:
        try:
            expect_head = parse_head(args.expect_head)
        except ValueError as exc:
            _complain(f"gateway audit verify: --expect-head: {exc}")
            return EXIT_BAD_INPUT
    settings = _data_settings()

    async def verify(engine: AsyncEngine) -> VerifyResult:
        async with reader(engine).connect() as connection:
            return await verify_stored_chain(connection, expect_head)

    result = _with_engine(settings, verify)
    if result.ok and result.head is not None:
        _say(f"audit chain intact: {result.checked} entries, head {format_head(*result.head)}")
        return EXIT_OK
    _complain(f"audit chain broken: {result.problem}")
    _complain(f"the {result.checked} entries before it are intact")
    return EXIT_FAILED


def cmd_audit_head(_: argparse.Namespace) -> int:
    settings = _data_settings()

    async def head(engine: AsyncEngine) -> tuple[int, str]:
        async with reader(engine).connect() as connection:
            return await read_head(connection)

    _say(format_head(*_with_engine(settings, head)))
    return EXIT_OK


# Keys -------------------------------------------------------------------------------------


class ProgressLine:
    """One self-overwriting line per column on a terminal-like stream: `\\rtable.column: n/N`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._column: str | None = None

    def __call__(self, progress: Progress) -> None:
        if self._column is not None and self._column != progress.column:
            self._stream.write("\n")
        self._column = progress.column
        self._stream.write(f"\r{progress.column}: {progress.done}/{progress.total}")
        self._stream.flush()

    def finish(self) -> None:
        if self._column is not None:
            self._stream.write("\n")
            self._column = None


def rotation_report(summary: RotationSummary) -> list[str]:
    lines = [
        f"{item.column}: {item.rotated} re-encrypted, {item.already_current} already under "
        f"{summary.key_id}"
        + (f", {item.changed_meanwhile} changed meanwhile" if item.changed_meanwhile else "")
        + (f", {item.unreadable} unreadable" if item.unreadable else "")
        for item in summary.columns
    ]
    if summary.complete:
        lines.append(f"every sealed value is under key {summary.key_id}")
    return lines


def cmd_keys_rotate(_: argparse.Namespace) -> int:
    settings = _data_settings()
    keys = Vault.from_settings(settings).keys
    progress = ProgressLine(sys.stderr)
    try:
        summary = _with_engine(
            settings,
            lambda engine: rotate_keys(
                engine, keys, now=SystemClock().now(), actor="cli:keys", progress=progress
            ),
        )
    finally:
        progress.finish()
    for line in rotation_report(summary):
        _say(line)
    for problem in summary.unreadable[:SHOWN_UNREADABLE]:
        _complain(f"cannot decrypt {problem.column} of row {problem.row_id}: {problem.reason}")
    if summary.unreadable:
        _complain("some values are not under the new key: fix the above and run it again")
        return EXIT_FAILED
    if not summary.complete:
        _complain("some values changed while rotating: run it again to check them")
        return EXIT_FAILED
    return EXIT_OK


# Retention --------------------------------------------------------------------------------


def cmd_retention_run(_: argparse.Namespace) -> int:
    settings = _data_settings()
    now = SystemClock().now()
    purged = _with_engine(
        settings,
        lambda engine: purge_expired_bodies(
            engine, now=now, retention_days=settings.retention_days, actor="cli:retention"
        ),
    )
    cutoff = now - timedelta(days=settings.retention_days)
    _say(f"purged {purged} message bodies from before {_when(cutoff)}")
    return EXIT_OK


# Simulate ---------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    settings = command_settings()
    url: str = args.url or settings.public_url
    sms = SimulatedSms(from_number=args.from_, to_number=args.to, text=args.text)
    try:
        answer = asyncio.run(
            post_sms(
                sms,
                url=url,
                public_url=settings.public_url,
                auth_token=settings.secret("auth_token"),
            )
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        _complain(f"gateway simulate: could not reach {url}: {exc or type(exc).__name__}")
        return EXIT_FAILED
    if answer.status != 200:
        _complain(f"gateway simulate: the gateway answered {answer.status}: {answer.text.strip()}")
        return EXIT_FAILED
    _say(describe(answer))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "token create": cmd_token_create,
    "token list": cmd_token_list,
    "token revoke": cmd_token_revoke,
    "audit verify": cmd_audit_verify,
    "audit head": cmd_audit_head,
    "keys rotate": cmd_keys_rotate,
    "retention run": cmd_retention_run,
    "simulate": cmd_simulate,
}
