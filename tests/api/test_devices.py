"""Device management over HTTP: list, get, rename, delete (with UIA) and bulk delete."""

from __future__ import annotations

from typing import Any

import aiohttp

from veche.homeserver import HomeServer

from .conftest import TestUser

V3 = "/_matrix/client/v3"


async def request(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
    token: str | None = None,
) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def login(http: aiohttp.ClientSession, user: TestUser, device_id: str) -> str:
    body = {"type": "m.login.password", "user": user.user_id, "password": user.password,
            "device_id": device_id, "initial_device_display_name": f"{device_id} name"}
    status, result = await request(http, "POST", f"{V3}/login", body)
    assert status == 200
    return result["access_token"]


def password_auth(user: TestUser, session: str | None = None) -> dict[str, Any]:
    auth = {"type": "m.login.password", "password": user.password,
            "identifier": {"type": "m.id.user", "user": user.user_id}}
    return auth if session is None else {**auth, "session": session}


async def test_list_and_get(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    await login(http, alice, "PHONE")
    status, body = await request(http, "GET", f"{V3}/devices", token=alice.access_token)
    assert status == 200
    by_id = {d["device_id"]: d for d in body["devices"]}
    assert set(by_id) == {alice.device_id, "PHONE"}
    phone = by_id["PHONE"]
    assert phone["display_name"] == "PHONE name"
    assert phone["last_seen_ts"] > 0 and phone["last_seen_ip"] == "127.0.0.1"
    # Fields without a value are absent, not null.
    assert by_id[alice.device_id] == {"device_id": alice.device_id}
    assert await request(http, "GET", f"{V3}/devices/PHONE", token=alice.access_token) == (
        200, phone
    )
    status, error = await request(http, "GET", f"{V3}/devices/NOPE", token=alice.access_token)
    assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    status, error = await request(http, "GET", f"{V3}/devices")
    assert (status, error["errcode"]) == (401, "M_MISSING_TOKEN")


async def test_other_users_devices_are_invisible(
    http: aiohttp.ClientSession, make_user: Any
) -> None:
    alice: TestUser = await make_user("alice")
    bob: TestUser = await make_user("bob")
    status, _ = await request(http, "GET", f"{V3}/devices/{alice.device_id}",
                              token=bob.access_token)
    assert status == 404
    status, _ = await request(http, "PUT", f"{V3}/devices/{alice.device_id}",
                              {"display_name": "x"}, bob.access_token)
    assert status == 404


async def test_rename(http: aiohttp.ClientSession, make_user: Any, homeserver: HomeServer) -> None:
    alice: TestUser = await make_user("alice")
    changed: list[tuple[str, list[str]]] = []

    async def hook(user_id: str, device_ids: list[str]) -> None:
        changed.append((user_id, device_ids))

    homeserver.devices.on_device_changed.append(hook)
    path = f"{V3}/devices/{alice.device_id}"
    assert await request(http, "PUT", path, {"display_name": "Desk"}, alice.access_token) == (
        200, {}
    )
    assert (await request(http, "GET", path, token=alice.access_token))[1]["display_name"] == "Desk"
    assert changed == [(alice.user_id, [alice.device_id])]
    # No display_name: nothing changes.
    assert (await request(http, "PUT", path, {}, alice.access_token))[0] == 200
    assert (await request(http, "GET", path, token=alice.access_token))[1]["display_name"] == "Desk"
    status, error = await request(http, "PUT", path, {"display_name": 3}, alice.access_token)
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    status, error = await request(http, "PUT", f"{V3}/devices/NOPE", {"display_name": "x"},
                                  alice.access_token)
    assert (status, error["errcode"]) == (404, "M_NOT_FOUND")


async def test_delete_device_with_uia(
    http: aiohttp.ClientSession, make_user: Any, homeserver: HomeServer
) -> None:
    alice: TestUser = await make_user("alice")
    phone_token = await login(http, alice, "PHONE")
    deleted: list[tuple[str, list[str]]] = []

    async def hook(user_id: str, device_ids: list[str]) -> None:
        deleted.append((user_id, device_ids))

    homeserver.devices.on_devices_deleted.append(hook)
    path = f"{V3}/devices/PHONE"
    # Clients send the first DELETE without a body.
    async with http.delete(path, headers=alice.headers) as response:
        assert response.status == 401
        challenge = await response.json()
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    body = {"auth": password_auth(alice, challenge["session"])}
    assert await request(http, "DELETE", path, body, alice.access_token) == (200, {})
    assert deleted == [(alice.user_id, ["PHONE"])]
    # Its token is gone with it; the other device is untouched.
    status, error = await request(http, "GET", f"{V3}/account/whoami", token=phone_token)
    assert (status, error["errcode"]) == (401, "M_UNKNOWN_TOKEN")
    assert (await request(http, "GET", path, token=alice.access_token))[0] == 404
    assert (await request(http, "GET", f"{V3}/account/whoami",
                          token=alice.access_token))[0] == 200
    # Deleting it again succeeds: "had been removed previously".
    assert (await request(http, "DELETE", path, {"auth": password_auth(alice)},
                          alice.access_token))[0] == 200


async def test_delete_device_wrong_password(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    await login(http, alice, "PHONE")
    auth = {**password_auth(alice), "password": "wrong"}
    status, error = await request(http, "DELETE", f"{V3}/devices/PHONE", {"auth": auth},
                                  alice.access_token)
    assert (status, error["errcode"]) == (401, "M_FORBIDDEN")
    assert "flows" in error and "session" in error
    assert (await request(http, "GET", f"{V3}/devices/PHONE", token=alice.access_token))[0] == 200


async def test_delete_devices(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    tokens = [await login(http, alice, name) for name in ("A", "B", "C")]
    path = f"{V3}/delete_devices"
    status, challenge = await request(http, "POST", path, {"devices": ["A", "B"]},
                                      alice.access_token)
    assert status == 401
    body = {"devices": ["A", "B", "UNKNOWN"], "auth": password_auth(alice, challenge["session"])}
    assert await request(http, "POST", path, body, alice.access_token) == (200, {})
    _, listing = await request(http, "GET", f"{V3}/devices", token=alice.access_token)
    assert sorted(d["device_id"] for d in listing["devices"]) == sorted([alice.device_id, "C"])
    assert (await request(http, "GET", f"{V3}/account/whoami", token=tokens[0]))[0] == 401
    assert (await request(http, "GET", f"{V3}/account/whoami", token=tokens[2]))[0] == 200
    for bad, errcode in [({}, "M_MISSING_PARAM"), ({"devices": "A"}, "M_INVALID_PARAM"),
                         ({"devices": [1]}, "M_INVALID_PARAM")]:
        status, error = await request(http, "POST", path, bad, alice.access_token)
        assert (status, error["errcode"]) == (400, errcode), bad
