"""The `gateway` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gateway.admin_cli import COMMANDS as ADMIN_COMMANDS
from gateway.classify import run_classify
from gateway.command_settings import command_settings
from gateway.crypto import DecryptionError, IndexKeyMismatchError, new_key
from gateway.import_command import run_import
from gateway.importer import ImportConflictError
from gateway.legacy_notes import seal_legacy_notes
from gateway.logs import configure_logging
from gateway.migrate import upgrade_to_head
from gateway.practice_file import PracticeFileError, known_country, parse_practice_file
from gateway.serve import serve
from gateway.settings import Settings, SettingsError
from gateway.web.user_command import cmd_user_create
from gateway.worker_command import run_worker

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
MAX_PORT = 65535
MAX_TOKEN_NAME = 100  # the column's width

Command = Callable[[argparse.Namespace], int]


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings.effective_log_format)


def cmd_migrate(_: argparse.Namespace) -> int:
    settings = command_settings()
    _configure_logging(settings)
    upgrade_to_head(settings.database_url)
    sealed = asyncio.run(seal_legacy_notes(settings))
    if sealed:
        print(f"sealed {sealed} agreement notes stored in clear before")
    print("database schema is up to date")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    try:
        file = parse_practice_file(args.file)
    except PracticeFileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = command_settings()
    _configure_logging(settings)
    try:
        summary = asyncio.run(run_import(settings, file, prune=args.prune))
    except ImportConflictError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not summary.changed:
        print(f"{args.file}: nothing changed")
    else:
        for label, items in (
            ("created", summary.created),
            ("updated", summary.updated),
            ("removed", summary.removed),
        ):
            if items:
                print(f"{label}: {', '.join(items)}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    settings = command_settings()
    _configure_logging(settings)
    serve(settings, host=args.host, port=args.port, run_worker=not args.no_worker)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    settings = command_settings()
    _configure_logging(settings)
    run_worker(settings, metrics_host=args.metrics_host, metrics_port=args.metrics_port)
    return EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    return run_classify(sys.stdin, sys.stdout, args.country)


def cmd_keys_new(_: argparse.Namespace) -> int:
    print(new_key())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    handlers = {
        "migrate": cmd_migrate,
        "import": cmd_import,
        "serve": cmd_serve,
        "worker": cmd_worker,
        "classify": cmd_classify,
        "keys new": cmd_keys_new,
        "user create": cmd_user_create,
        **ADMIN_COMMANDS,
    }
    handler = handlers.__getitem__

    parser = argparse.ArgumentParser(
        prog="gateway", description="Boundary Gateway: an SMS gateway for therapy practices."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(
        run=handler("migrate")
    )

    p = sub.add_parser("import", help="load a practice file (TOML)")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--prune",
        action="store_true",
        help="remove therapists and clients the file no longer names",
    )
    p.set_defaults(run=handler("import"))

    p = sub.add_parser("serve", help="serve webhooks and the API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8080)
    p.add_argument(
        "--no-worker", action="store_true", help="do not run the delivery worker in-process"
    )
    p.set_defaults(run=handler("serve"))

    p = sub.add_parser("worker", help="run the delivery worker alone")
    p.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="P",
        help="serve /metrics and /healthz on this port (default: no HTTP server)",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="H",
        help="address for --metrics-port (default: 127.0.0.1)",
    )
    p.set_defaults(run=handler("worker"))

    p = sub.add_parser("classify", help="crisis-classify messages read one per line from stdin")
    p.add_argument("--country", default="US", type=_country)
    p.set_defaults(run=handler("classify"))

    p = sub.add_parser("simulate", help="post a signed inbound SMS to a running gateway")
    p.add_argument("--from", dest="from_", required=True, metavar="PHONE", type=_utf8_text)
    p.add_argument("--to", required=True, metavar="PHONE", type=_utf8_text)
    p.add_argument("--url", default=None, help="gateway base URL (default: GATEWAY_PUBLIC_URL)")
    p.add_argument("text", type=_utf8_text)
    p.set_defaults(run=handler("simulate"))

    _add_admin_commands(sub, handler)
    return parser


def _add_admin_commands(sub: Any, handler: Callable[[str], Command]) -> None:
    """Keys, tokens, accounts, the audit chain and retention."""
    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(
        dest="keys_command", required=True, metavar="SUBCOMMAND"
    )
    keys.add_parser("new", help="print a new key as id:key").set_defaults(run=handler("keys new"))
    keys.add_parser(
        "rotate",
        help="re-encrypt everything under the first key",
        description=(
            "Re-encrypts every sealed value under the first key of GATEWAY_ENCRYPTION_KEYS, "
            "500 rows per transaction; safe to stop and run again. Put the new key first "
            "everywhere (keeping the old ones) before running it; remove an old key only once "
            "this reports every value under the new one and the spool is empty. "
            "GATEWAY_INDEX_KEY (the phone-number blind index) is not rotated by this command."
        ),
    ).set_defaults(run=handler("keys rotate"))

    token = sub.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True, metavar="SUBCOMMAND"
    )
    p = token.add_parser("create", help="print a new API token once")
    p.add_argument("--name", required=True, type=_token_name)
    p.add_argument("--role", required=True, choices=["admin", "therapist"])
    p.add_argument("--therapist")
    p.add_argument("--expires-days", type=int)
    p.set_defaults(run=handler("token create"))
    token.add_parser("list", help="list tokens (never their secrets)").set_defaults(
        run=handler("token list")
    )
    p = token.add_parser("revoke", help="revoke a token")
    p.add_argument("id")
    p.set_defaults(run=handler("token revoke"))

    user = sub.add_parser("user", help="accounts for the web pages").add_subparsers(
        dest="user_command", required=True, metavar="SUBCOMMAND"
    )
    p = user.add_parser(
        "create", help="create an account (password from GATEWAY_USER_PASSWORD or a prompt)"
    )
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, choices=["admin", "therapist"])
    p.add_argument("--therapist")
    p.set_defaults(run=handler("user create"))

    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="audit_command", required=True, metavar="SUBCOMMAND"
    )
    p = audit.add_parser("verify", help="check the audit chain")
    p.add_argument("--expect-head", metavar="SEQ:HASH")
    p.set_defaults(run=handler("audit verify"))
    audit.add_parser("head", help="print the chain's last sequence number and hash").set_defaults(
        run=handler("audit head")
    )

    retention = sub.add_parser("retention", help="purge old message bodies").add_subparsers(
        dest="retention_command", required=True, metavar="SUBCOMMAND"
    )
    retention.add_parser("run", help="purge bodies older than GATEWAY_RETENTION_DAYS").set_defaults(
        run=handler("retention run")
    )


def _country(text: str) -> str:
    try:
        return known_country(text.strip().upper())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _token_name(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= MAX_TOKEN_NAME:
        raise argparse.ArgumentTypeError(f"a token name has 1 to {MAX_TOKEN_NAME} characters")
    if not name.isprintable():
        # A tab or line break would forge columns or rows in `gateway token list`.
        raise argparse.ArgumentTypeError(
            "a token name is one line without tabs or control characters"
        )
    return name


def _utf8_text(text: str) -> str:
    """An argument as given; bytes that are not UTF-8 reach Python as lone surrogates, which
    no request or terminal can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("not valid UTF-8 text") from None
    return text


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"a port is between 0 and {MAX_PORT}, not {port}")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        command: Command = args.run
        result = command(args)
    except SettingsError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except IndexKeyMismatchError as exc:
        print(
            f"gateway: configuration error: {exc}; phones would match no client and no "
            "opt-out. Set it back to the key the database was imported with",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except DecryptionError as exc:
        print(
            f"gateway: configuration error: stored data cannot be decrypted ({exc}); "
            "GATEWAY_ENCRYPTION_KEYS must keep every key that data is still encrypted with "
            "(`gateway keys rotate` re-encrypts it with the first)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except SQLAlchemyError as exc:
        # Only the type: a database error's text can carry a statement and its values.
        print(
            f"gateway: database error ({type(exc).__name__}): check GATEWAY_DATABASE_URL and "
            "that `gateway migrate` has run",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except OSError as exc:
        # Refused or unreachable connections, a port already taken, an unknown host name.
        print(f"gateway: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
