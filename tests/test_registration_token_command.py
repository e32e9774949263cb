"""`veche registration-token`, run as `python -m veche` in a subprocess; the tokens it creates
then register accounts on a real server over HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from veche.config import format_host_port, load_config
from veche.homeserver import HomeServer
from veche.services.passwords import PasswordHasher
from veche.storage.database import open_database
from veche.storage.registration_tokens import RegistrationTokenStore

from .api.conftest import FAST_PASSWORDS
from .test_cli import config_path, one_line_error, veche  # noqa: F401 - config_path is a fixture


def run(tmp_path: Path, config: Path, *args: str):
    return veche("registration-token", *args, "--config", str(config), cwd=tmp_path)


async def _tokens(config: Path) -> dict[str, tuple[int | None, int | None]]:
    db = await open_database(load_config(config, {}).database)
    try:
        return {t.token: (t.uses_allowed, t.expiry_ts) for t in await RegistrationTokenStore(db).list()}
    finally:
        await db.close()


def test_create_list_delete(tmp_path: Path, config_path: Path) -> None:  # noqa: F811
    created = run(tmp_path, config_path, "create", "--token", "party", "--uses-allowed", "2",
                  "--expires-in", "7d")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "party"
    generated = run(tmp_path, config_path, "create")
    assert generated.returncode == 0, generated.stderr
    random_token = generated.stdout.strip()
    assert len(random_token) == 16

    tokens = asyncio.run(_tokens(config_path))
    uses, expiry = tokens["party"]
    assert uses == 2
    assert expiry is not None
    assert abs(expiry - (time.time() + 7 * 86400) * 1000) < 60_000
    assert tokens[random_token] == (None, None)

    listing = run(tmp_path, config_path, "list")
    assert listing.returncode == 0, listing.stderr
    lines = {line.split("\t")[0]: line.split("\t")[1:] for line in listing.stdout.splitlines()}
    assert lines["party"][0] == "used 0/2" and lines["party"][1].startswith("expires ")
    assert lines[random_token] == ["used 0/unlimited", "never expires", "valid"]

    deleted = run(tmp_path, config_path, "delete", "party")
    assert deleted.returncode == 0 and deleted.stdout.strip() == "Deleted party"
    assert "party" not in asyncio.run(_tokens(config_path))


def test_errors(tmp_path: Path, config_path: Path) -> None:  # noqa: F811
    assert run(tmp_path, config_path, "create", "--token", "dup").returncode == 0
    cases = [
        (("create", "--token", "dup"), "the token dup already exists"),
        (("create", "--token", "bad token"), "1 to 64 characters"),
        (("create", "--token", "x" * 65), "1 to 64 characters"),
        (("create", "--uses-allowed", "0"), "at least 1"),
        (("create", "--expires-in", "soon"), "invalid duration 'soon'"),
        (("delete", "missing"), "no token missing"),
    ]
    for args, problem in cases:
        assert problem in one_line_error(run(tmp_path, config_path, *args)), args


async def test_token_registers_over_http(tmp_path: Path, config_path: Path) -> None:  # noqa: F811
    created = await asyncio.to_thread(
        run, tmp_path, config_path, "create", "--token", "once", "--uses-allowed", "1"
    )
    assert created.returncode == 0, created.stderr
    config = load_config(config_path, {"VECHE_REGISTRATION": "token", "VECHE_LISTEN": "127.0.0.1:0"})
    hs = await HomeServer.create(config, passwords=PasswordHasher(**FAST_PASSWORDS))
    try:
        await hs.start()
        base_url = "http://" + format_host_port(*hs.bound["client"])
        async with aiohttp.ClientSession(base_url=base_url) as http:
            statuses = []
            for name in ("first", "second"):
                body = {
                    "username": name,
                    "password": "pw",
                    "auth": {"type": "m.login.registration_token", "token": "once"},
                }
                async with http.post("/_matrix/client/v3/register", json=body) as response:
                    statuses.append(response.status)
        assert statuses == [200, 401]
    finally:
        await hs.stop()
    listing = await asyncio.to_thread(run, tmp_path, config_path, "list")
    assert listing.stdout.split("\t")[1:] == ["used 1/1", "never expires", "unusable\n"]
