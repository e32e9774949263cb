"""`veche registration-token create|list|delete`: the tokens of `registration: token` mode.

    veche registration-token create --uses-allowed 5 --expires-in 7d
    veche registration-token list
    veche registration-token delete TOKEN
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veche.config import load_config
from veche.homeserver import open_configured_database
from veche.log import setup_logging
from veche.protocol.registration_tokens import generate_token, is_valid_token
from veche.storage.registration_tokens import RegistrationToken, RegistrationTokenStore

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_command(commands: Any, config_help: str) -> None:
    """Adds the subcommand to the `veche` parser's subparsers."""
    parser = commands.add_parser("registration-token", help="manage registration tokens")
    actions = parser.add_subparsers(required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a token and print it")
    create.add_argument("--token", help="the token (default: 16 random characters)")
    create.add_argument(
        "--uses-allowed", type=int, metavar="N", help="how many accounts it may create"
    )
    create.add_argument(
        "--expires-in", metavar="DURATION", help="lifetime such as 90m, 12h or 7d (default: none)"
    )
    create.add_argument("--config", type=Path, help=config_help)
    create.set_defaults(run=_create)

    listing = actions.add_parser("list", help="list the tokens")
    listing.add_argument("--config", type=Path, help=config_help)
    listing.set_defaults(run=_list)

    delete = actions.add_parser("delete", help="delete a token")
    delete.add_argument("token", metavar="TOKEN")
    delete.add_argument("--config", type=Path, help=config_help)
    delete.set_defaults(run=_delete)


def _create(args: argparse.Namespace) -> None:
    from veche.cli import CommandError

    token = args.token if args.token is not None else generate_token()
    if not is_valid_token(token):
        raise CommandError("a token is 1 to 64 characters of A-Z a-z 0-9 . _ ~ -")
    if args.uses_allowed is not None and args.uses_allowed < 1:
        raise CommandError("--uses-allowed must be at least 1")
    expiry_ts = None
    if args.expires_in is not None:
        expiry_ts = int(time.time() * 1000) + _duration_ms(args.expires_in)

    async def create(store: RegistrationTokenStore) -> None:
        if not await store.create(token, args.uses_allowed, expiry_ts):
            raise CommandError(f"the token {token} already exists")

    _with_store(args, create)
    print(token)


def _list(args: argparse.Namespace) -> None:
    found: list[RegistrationToken] = []

    async def read(store: RegistrationTokenStore) -> None:
        found.extend(await store.list())

    _with_store(args, read)
    now = int(time.time() * 1000)
    for token in found:
        print("\t".join(_describe(token, now)))


def _delete(args: argparse.Namespace) -> None:
    from veche.cli import CommandError

    async def delete(store: RegistrationTokenStore) -> None:
        if not await store.delete(args.token):
            raise CommandError(f"no token {args.token}")

    _with_store(args, delete)
    print(f"Deleted {args.token}")


def _with_store(args: argparse.Namespace, action: Any) -> None:
    from veche.cli import _config_path, _run

    config = load_config(_config_path(args))
    setup_logging("WARNING")

    async def run() -> None:
        db = await open_configured_database(config)
        try:
            await action(RegistrationTokenStore(db))
        finally:
            await db.close()

    _run(run())


def _describe(token: RegistrationToken, now_ms: int) -> list[str]:
    allowed = "unlimited" if token.uses_allowed is None else str(token.uses_allowed)
    if token.expiry_ts is None:
        expiry = "never expires"
    else:
        when = datetime.fromtimestamp(token.expiry_ts / 1000, UTC).isoformat(timespec="seconds")
        expiry = f"expires {when}" if token.expiry_ts > now_ms else f"expired {when}"
    state = "valid" if token.is_usable(now_ms) else "unusable"
    return [token.token, f"used {token.completed}/{allowed}", expiry, state]


def _duration_ms(text: str) -> int:
    from veche.cli import CommandError

    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise CommandError(f"invalid duration {text!r}: use e.g. 90m, 12h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] * 1000
