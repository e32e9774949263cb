"""Synapse's registration tokens admin API over HTTP, on SQLite and PostgreSQL: the tokens
it makes let people register in `registration: token` mode."""

from __future__ import annotations

import time

import pytest

TOKENS = "/_synapse/admin/v1/registration_tokens"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_REGISTRATION": "token"}


async def register_with(http, username: str, token: str) -> int:
    body = {"username": username, "password": "pw"}
    async with http.post("/_matrix/client/v3/register", json=body) as response:
        session = (await response.json())["session"]
    body["auth"] = {"type": "m.login.registration_token", "token": token, "session": session}
    async with http.post("/_matrix/client/v3/register", json=body) as response:
        return response.status


async def test_create_list_update_delete(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    async with http.post(f"{TOKENS}/new", json={}, headers=alice.headers) as response:
        assert response.status == 403

    async with http.post(f"{TOKENS}/new", json={"token": "abc.123", "uses_allowed": 1}, headers=admin.headers) as r:
        assert r.status == 200
        assert await r.json() == {
            "token": "abc.123", "uses_allowed": 1, "pending": 0, "completed": 0, "expiry_time": None
        }
    async with http.post(f"{TOKENS}/new", json={"length": 8}, headers=admin.headers) as response:
        generated = (await response.json())["token"]
    assert len(generated) == 8

    assert await register_with(http, "newbie", "abc.123") == 200
    async with http.get(f"{TOKENS}/abc.123", headers=admin.headers) as response:
        assert (await response.json())["completed"] == 1
    async with http.get(TOKENS, params={"valid": "false"}, headers=admin.headers) as response:
        assert [t["token"] for t in (await response.json())["registration_tokens"]] == ["abc.123"]
    async with http.get(TOKENS, params={"valid": "true"}, headers=admin.headers) as response:
        assert [t["token"] for t in (await response.json())["registration_tokens"]] == [generated]

    expiry = int(time.time() * 1000) + 3_600_000
    async with http.put(f"{TOKENS}/abc.123", json={"uses_allowed": None, "expiry_time": expiry},
                        headers=admin.headers) as response:
        updated = await response.json()
    assert updated["uses_allowed"] is None and updated["expiry_time"] == expiry
    assert await register_with(http, "second", "abc.123") == 200

    async with http.delete(f"{TOKENS}/abc.123", headers=admin.headers) as response:
        assert response.status == 200
    async with http.get(f"{TOKENS}/abc.123", headers=admin.headers) as response:
        assert response.status == 404
    async with http.delete(f"{TOKENS}/abc.123", headers=admin.headers) as response:
        assert response.status == 404


async def test_bad_input_is_400(http, make_user):
    admin = await make_user("root", admin=True)
    async with http.post(f"{TOKENS}/new", json={"token": "dup"}, headers=admin.headers) as response:
        assert response.status == 200
    for body in (
        {"token": "dup"},
        {"token": "no spaces"},
        {"token": "x" * 65},
        {"length": 0},
        {"length": True},
        {"uses_allowed": -1},
        {"uses_allowed": "5"},
        {"expiry_time": 1},
    ):
        async with http.post(f"{TOKENS}/new", json=body, headers=admin.headers) as response:
            assert response.status == 400, body
            assert (await response.json())["errcode"] == "M_INVALID_PARAM"
    async with http.put(f"{TOKENS}/dup", json={"expiry_time": "soon"}, headers=admin.headers) as response:
        assert response.status == 400
    async with http.put(f"{TOKENS}/nope", json={}, headers=admin.headers) as response:
        assert response.status == 404
    async with http.get(TOKENS, params={"valid": "maybe"}, headers=admin.headers) as response:
        assert response.status == 400
