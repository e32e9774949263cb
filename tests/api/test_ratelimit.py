"""Rate limits over HTTP, on a server started with them on (the other API tests turn them off)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from .conftest import TestUser

V3 = "/_matrix/client/v3"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_RATE_LIMITS": "on", "VECHE_REGISTRATION": "open"}


async def post(http: aiohttp.ClientSession, path: str, body: Any) -> aiohttp.ClientResponse:
    async with http.post(path, json=body) as response:
        await response.read()
        return response


async def assert_limited(response: aiohttp.ClientResponse) -> None:
    assert response.status == 429
    body = await response.json()
    assert body["errcode"] == "M_LIMIT_EXCEEDED"
    assert body["retry_after_ms"] > 0
    assert int(response.headers["Retry-After"]) == -(-body["retry_after_ms"] // 1000)


async def test_logins_per_address(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    body = {"type": "m.login.password", "user": "alice", "password": alice.password}
    for _ in range(3):
        assert (await post(http, f"{V3}/login", body)).status == 200
    await assert_limited(await post(http, f"{V3}/login", body))


async def test_registrations_per_address(http: aiohttp.ClientSession) -> None:
    for n in range(3):
        body = {"username": f"u{n}", "password": "pw", "auth": {"type": "m.login.dummy"}}
        assert (await post(http, f"{V3}/register", body)).status == 200
    body = {"username": "u3", "password": "pw", "auth": {"type": "m.login.dummy"}}
    await assert_limited(await post(http, f"{V3}/register", body))


async def test_uia_steps_do_not_count_as_registrations(http: aiohttp.ClientSession) -> None:
    for _ in range(5):
        assert (await post(http, f"{V3}/register", {"username": "x", "password": "pw"})).status == 401


async def test_failed_password_attempts_lock_the_account(
    http: aiohttp.ClientSession, make_user: Any
) -> None:
    bob: TestUser = await make_user("bob")
    auth = {"type": "m.login.password", "password": "wrong",
            "identifier": {"type": "m.id.user", "user": bob.user_id}}
    for _ in range(3):
        async with http.post(f"{V3}/account/password", headers=bob.headers,
                             json={"new_password": "n", "auth": auth}) as response:
            assert response.status == 401
    async with http.post(f"{V3}/account/password", headers=bob.headers,
                         json={"new_password": "n", "auth": {**auth, "password": bob.password}}
                         ) as response:
        await assert_limited(response)
