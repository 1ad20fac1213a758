"""`gateway user create --email --role [--therapist ID]`: an account for the web pages.

The password comes from GATEWAY_USER_PASSWORD (for scripts) or is asked for twice without
echo; it never appears on the command line, where other users could see it in `ps`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import Final

from gateway.clock import SystemClock
from gateway.command_settings import command_settings
from gateway.db.engine import create_engine
from gateway.logs import configure_logging
from gateway.settings import Settings
from gateway.users import UserError, check_password_rules, create_user, hash_password

PASSWORD_VARIABLE: Final = "GATEWAY_USER_PASSWORD"  # noqa: S105 - a variable name, not a password
EXIT_OK: Final = 0
EXIT_BAD_INPUT: Final = 2


def _password() -> str | None:
    given = os.environ.get(PASSWORD_VARIABLE)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        # getpass would fall back to reading stdin with echo, or fail with a traceback.
        sys.stderr.write(
            f"gateway user create: no terminal to ask for the password; set {PASSWORD_VARIABLE}\n"
        )
        return None
    try:
        first = getpass.getpass("Password: ")
        again = getpass.getpass("Password again: ")
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\ngateway user create: no password given\n")
        return None
    if again != first:
        sys.stderr.write("gateway user create: the passwords differ\n")
        return None
    return first


async def _create(settings: Settings, args: argparse.Namespace, password_hash: str) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            user = await create_user(
                connection,
                email=args.email,
                password_hash=password_hash,
                role=args.role,
                therapist_id=args.therapist,
                now=SystemClock().now(),
            )
    finally:
        await engine.dispose()
    return user.id


def cmd_user_create(args: argparse.Namespace) -> int:
    if args.role == "therapist" and args.therapist is None:
        sys.stderr.write("gateway user create: a therapist account needs --therapist ID\n")
        return EXIT_BAD_INPUT
    if args.role == "admin" and args.therapist is not None:
        sys.stderr.write("gateway user create: an admin account names no therapist\n")
        return EXIT_BAD_INPUT
    password = _password()
    if password is None:
        return EXIT_BAD_INPUT
    try:
        check_password_rules(password)
    except UserError as exc:
        sys.stderr.write(f"gateway user create: {exc}\n")
        return EXIT_BAD_INPUT
    settings = command_settings()
    configure_logging(settings.effective_log_format)
    try:
        user_id = asyncio.run(_create(settings, args, hash_password(password)))
    except UserError as exc:
        sys.stderr.write(f"gateway user create: {exc}\n")
        return EXIT_BAD_INPUT
    sys.stdout.write(f"created user {user_id} ({args.role})\n")
    return EXIT_OK
