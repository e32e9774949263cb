"""A real Veche server for API tests, on SQLite and (with VECHE_TEST_POSTGRES) PostgreSQL.

    async def test_something(http: aiohttp.ClientSession) -> None:
        async with http.get("/_matrix/client/versions") as response:
            ...

Fixtures:
- `server_settings`: extra VECHE_* settings; override it in a test module to change the
  server's configuration (e.g. `{"VECHE_REGISTRATION": "open"}`).
- `homeserver`: the started `HomeServer` (its stores, for setting up state directly).
- `base_url`: the server's client API, e.g. http://127.0.0.1:41234
- `http`: an aiohttp ClientSession bound to `base_url` (pass paths starting with "/").
- `make_user`: `await make_user("alice")` creates an account with a device and returns a
  `TestUser` whose `headers` authenticate requests.

Each test gets a fresh database and a server on a free port; the server is stopped and
the database closed afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from veche.config import format_host_port, load_config
from veche.homeserver import HomeServer
from veche.services.passwords import PasswordHasher

SERVER_NAME = "veche.test"
TEST_PASSWORD = "test password"

# Cheap argon2 parameters: API tests exercise behaviour, not hashing strength.
FAST_PASSWORDS = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a test class, despite the name

    user_id: str
    device_id: str
    access_token: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {}


@pytest.fixture
async def homeserver(
    migrated_database_target: str, tmp_path: Path, server_settings: dict[str, str]
) -> AsyncIterator[HomeServer]:
    environ = {
        "VECHE_SERVER_NAME": SERVER_NAME,
        "VECHE_LISTEN": "127.0.0.1:0",
        "VECHE_DATA_DIR": str(tmp_path / "data"),
        "VECHE_DATABASE": migrated_database_target,
        "VECHE_RATE_LIMITS": "off",
        **server_settings,
    }
    config = load_config(None, environ)
    hs = await HomeServer.create(config, passwords=PasswordHasher(**FAST_PASSWORDS))
    try:
        await hs.start()
        yield hs
    finally:
        await hs.stop()


@pytest.fixture
def base_url(homeserver: HomeServer) -> str:
    host, port = homeserver.bound["client"]
    return f"http://{format_host_port(host, port)}"


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=base_url) as session:
        yield session


@pytest.fixture
def make_user(homeserver: HomeServer) -> Callable[..., Awaitable[TestUser]]:
    async def make(
        localpart: str, *, password: str = TEST_PASSWORD, admin: bool = False
    ) -> TestUser:
        user_id = f"@{localpart}:{homeserver.config.server_name}"
        accounts = homeserver.accounts
        password_hash = await homeserver.passwords.hash(password)
        await accounts.create_account(user_id, password_hash, is_admin=admin)
        device_id = f"{localpart.upper()}DEVICE"
        await accounts.create_device(user_id, device_id)
        token = await accounts.create_access_token(user_id, device_id)
        return TestUser(user_id, device_id, token, password)

    return make
