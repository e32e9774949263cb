"""The `veche` command: serve, generate-config, register-user, registration-token, media.

Operator mistakes (a wrong setting, a taken user name, a port in use) end the command
with one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from veche import media_command, registration_token_command
from veche.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_SERVER_NAME,
    Config,
    ConfigError,
    check_server_name,
    env_var,
    load_config,
    render_config,
)
from veche.homeserver import HomeServer, StartupError, open_configured_database
from veche.log import setup_logging
from veche.memory import IdleTrimmer, tune_allocator, tune_collector
from veche.protocol.identifiers import InvalidIdentifier, is_valid_localpart, parse_user_id
from veche.services.passwords import PasswordHasher
from veche.storage.accounts import AccountStore, UserIdTaken

logger = logging.getLogger(__name__)

CONFIG_ENV = "VECHE_CONFIG"
DEFAULT_CONFIG = Path(DEFAULT_DATA_DIR) / "veche.yaml"


class CommandError(Exception):
    """A command cannot do what was asked; str(error) is the one line to show."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (CommandError, ConfigError, StartupError) as e:
        print(f"veche: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="veche", description="A Matrix homeserver.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    config_help = f"the config file (default: ${CONFIG_ENV} or {DEFAULT_CONFIG})"

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--config", type=Path, help=config_help + "; created if missing")
    serve.set_defaults(run=_serve)

    generate = commands.add_parser("generate-config", help="write a new config file")
    generate.add_argument(
        "--server-name",
        help=f"the server name in user IDs (default: ${env_var('server_name')} or "
        f"{DEFAULT_SERVER_NAME})",
    )
    generate.add_argument("--output", type=Path, help="the file to write (default: stdout)")
    generate.set_defaults(run=_generate_config)

    register = commands.add_parser("register-user", help="create an account")
    register.add_argument("user", metavar="USER", help="a localpart or a user ID of this server")
    register.add_argument("--admin", action="store_true", help="make the account a server admin")
    register.add_argument("--password", help="the password (prompted for when omitted)")
    register.add_argument("--config", type=Path, help=config_help)
    register.set_defaults(run=_register_user)

    registration_token_command.add_command(commands, config_help)
    media_command.add_command(commands, config_help)
    return parser


def _config_path(args: argparse.Namespace) -> Path:
    if args.config is not None:
        return args.config
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def _generate_config(args: argparse.Namespace) -> None:
    server_name = args.server_name or os.environ.get(env_var("server_name"), DEFAULT_SERVER_NAME)
    if args.output is None:
        sys.stdout.write(_config_text(server_name, None, os.environ))
        return
    if args.output.exists():
        raise CommandError(f"{args.output} already exists; not overwriting it")
    write_new_config(args.output, server_name, os.environ)
    print(f"Wrote {args.output}", file=sys.stderr)


def _config_text(server_name: str, config_dir: Path | None, environ: Mapping[str, str]) -> str:
    check_server_name("--server-name", server_name)
    data_dir = Path(environ.get(env_var("data_dir")) or DEFAULT_DATA_DIR)
    return render_config(server_name, data_dir, config_dir)


def write_new_config(path: Path, server_name: str, environ: Mapping[str, str]) -> None:
    text = _config_text(server_name, path.parent, environ)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise CommandError(f"cannot write {path}: {e.strerror}") from None


def _serve(args: argparse.Namespace) -> None:
    path = _config_path(args)
    if not path.exists():
        server_name = os.environ.get(env_var("server_name"), DEFAULT_SERVER_NAME)
        write_new_config(path, server_name, os.environ)
        print(f"Wrote a new config file {path} for server name {server_name}", file=sys.stderr)
    config = load_config(path)
    setup_logging(config.log_level)
    tune_allocator()
    _run(_serve_until_signalled(HomeServer.create(config)), fast_loop=True)


async def _serve_until_signalled(creating: Coroutine[Any, Any, HomeServer]) -> None:
    hs = await creating
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Process-wide, so the serving process owns it rather than each HomeServer.
    trimmer = IdleTrimmer()
    try:
        await hs.start()
        tune_collector()
        trimmer.start()
        await stop.wait()
        logger.info("Shutting down")
    finally:
        await trimmer.stop()
        await hs.stop()
    logger.info("Stopped")


def _run(main: Coroutine[Any, Any, None], *, fast_loop: bool = False) -> None:
    loop_factory = None
    if fast_loop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main)


def _register_user(args: argparse.Namespace) -> None:
    config = load_config(_config_path(args))
    setup_logging("WARNING")
    user_id = _user_id_of(args.user, config.server_name)
    password = args.password if args.password is not None else _prompt_password()
    if not password:
        raise CommandError("the password must not be empty")
    _run(_create_account(config, user_id, password, args.admin))
    print(f"Registered {user_id}" + (" (admin)" if args.admin else ""))


def _user_id_of(user: str, server_name: str) -> str:
    if user.startswith("@"):
        try:
            parsed = parse_user_id(user)
        except InvalidIdentifier as e:
            raise CommandError(f"invalid user ID {user!r}: {e}") from None
        if parsed.server_name != server_name:
            raise CommandError(f"{user} is not a user of this server ({server_name})")
        localpart = parsed.localpart
    else:
        localpart = user
    # The spec has servers downcase new user names (appendices.md, "User Identifiers").
    localpart = localpart.lower()
    if not is_valid_localpart(localpart):
        raise CommandError(
            f"invalid user name {localpart!r}: use only a-z, 0-9 and . _ = - / +"
        )
    user_id = f"@{localpart}:{server_name}"
    if len(user_id.encode()) > 255:
        raise CommandError(f"the user ID {user_id} is longer than 255 bytes")
    return user_id


def _prompt_password() -> str:
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise CommandError("the passwords do not match")
    return password


async def _create_account(config: Config, user_id: str, password: str, admin: bool) -> None:
    db = await open_configured_database(config)
    passwords = PasswordHasher()
    try:
        accounts = AccountStore(db)
        if await accounts.user_id_exists(user_id):
            raise CommandError(f"the user {user_id} already exists")
        password_hash = await passwords.hash(password)
        try:
            await accounts.create_account(user_id, password_hash, is_admin=admin)
        except UserIdTaken:
            raise CommandError(f"the user {user_id} already exists") from None
    finally:
        passwords.close()
        await db.close()
