"""GET/POST /login, /refresh, /logout and /logout/all over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp

from veche.homeserver import HomeServer

from .conftest import SERVER_NAME, TestUser

LOGIN = "/_matrix/client/v3/login"
REFRESH = "/_matrix/client/v3/refresh"
WHOAMI = "/_matrix/client/v3/account/whoami"


async def post(
    http: aiohttp.ClientSession, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(path, json=body if body is not None else {}, headers=headers) as r:
        return r.status, await r.json()


async def whoami(http: aiohttp.ClientSession, token: str) -> tuple[int, dict]:
    async with http.get(WHOAMI, headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


def password_login(user: str, password: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
        **extra,
    }


async def test_flows(http: aiohttp.ClientSession) -> None:
    async with http.get(LOGIN) as response:
        assert (response.status, await response.json()) == (
            200,
            {"flows": [{"type": "m.login.password"}]},
        )


async def test_login_by_localpart_full_id_and_legacy_user(
    http: aiohttp.ClientSession, make_user: Any, homeserver: HomeServer
) -> None:
    alice: TestUser = await make_user("alice")
    bodies = [
        password_login("alice", alice.password),
        password_login(alice.user_id, alice.password),
        password_login("ALICE", alice.password),
        {"type": "m.login.password", "user": "alice", "password": alice.password},
    ]
    device_ids = set()
    for body in bodies:
        status, result = await post(http, LOGIN, body)
        assert status == 200, result
        assert result["user_id"] == alice.user_id
        assert result["home_server"] == SERVER_NAME
        assert result["well_known"] == {
            "m.homeserver": {"base_url": homeserver.config.public_baseurl}
        }
        assert "refresh_token" not in result and "expires_in_ms" not in result
        assert (await whoami(http, result["access_token"]))[1]["device_id"] == result["device_id"]
        device_ids.add(result["device_id"])
    assert len(device_ids) == len(bodies)


async def test_wrong_password_and_unknown_users(http: aiohttp.ClientSession, make_user: Any) -> None:
    await make_user("bob")
    for body in [
        password_login("bob", "wrong"),
        password_login("nobody", "pw"),
        password_login("@bob:other.example", "test password"),
        {"type": "m.login.password",
         "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "b@x.org"},
         "password": "pw"},
    ]:
        status, error = await post(http, LOGIN, body)
        assert (status, error["errcode"]) == (403, "M_FORBIDDEN"), body


async def test_bad_requests(http: aiohttp.ClientSession) -> None:
    async with http.post(LOGIN, data=b"[1, 2") as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_NOT_JSON"
    cases = [
        ({}, "M_MISSING_PARAM"),
        ({"type": "m.login.token", "token": "t"}, "M_UNKNOWN"),
        ({"type": "m.login.password", "password": "pw"}, "M_MISSING_PARAM"),
        ({"type": "m.login.password", "identifier": "bob", "password": "pw"}, "M_INVALID_PARAM"),
        ({"type": "m.login.password", "identifier": {"type": "m.id.fancy"}, "password": "pw"},
         "M_UNKNOWN"),
        (password_login("bob", 123), "M_INVALID_PARAM"),
        (password_login("bob", "pw", device_id=5), "M_INVALID_PARAM"),
        (password_login("bob", "pw", refresh_token="yes"), "M_INVALID_PARAM"),
        (password_login("bob", "pw", initial_device_display_name=[]), "M_INVALID_PARAM"),
    ]
    for body, errcode in cases:
        status, error = await post(http, LOGIN, body)
        assert (status, error["errcode"]) == (400, errcode), body


async def test_device_reuse_revokes_its_old_tokens(
    http: aiohttp.ClientSession, make_user: Any
) -> None:
    carol: TestUser = await make_user("carol")
    body = password_login("carol", carol.password, device_id="LAPTOP",
                          initial_device_display_name="Laptop")
    _, first = await post(http, LOGIN, body)
    assert first["device_id"] == "LAPTOP"
    _, second = await post(http, LOGIN, {**body, "initial_device_display_name": "Renamed"})
    assert second["device_id"] == "LAPTOP"
    status, error = await whoami(http, first["access_token"])
    assert (status, error["errcode"], error["soft_logout"]) == (401, "M_UNKNOWN_TOKEN", False)
    assert (await whoami(http, second["access_token"]))[0] == 200
    # The existing device keeps its name; the other device was not touched.
    async with http.get("/_matrix/client/v3/devices/LAPTOP", headers=carol.headers) as response:
        assert (await response.json())["display_name"] == "Laptop"
    assert (await whoami(http, carol.access_token))[0] == 200


async def test_deactivated_user_cannot_log_in(
    http: aiohttp.ClientSession, make_user: Any, homeserver: HomeServer
) -> None:
    dan: TestUser = await make_user("dan")
    await homeserver.auth_service.deactivate(dan.user_id)
    status, error = await post(http, LOGIN, password_login("dan", dan.password))
    assert (status, error["errcode"]) == (403, "M_USER_DEACTIVATED")
    status, error = await post(http, LOGIN, password_login("dan", "wrong"))
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")


async def test_refresh_rotation(http: aiohttp.ClientSession, make_user: Any) -> None:
    erin: TestUser = await make_user("erin")
    _, login = await post(http, LOGIN, password_login("erin", erin.password, refresh_token=True))
    assert login["expires_in_ms"] > 0 and login["refresh_token"]
    rt1, at1 = login["refresh_token"], login["access_token"]

    status, first = await post(http, REFRESH, {"refresh_token": rt1})
    assert status == 200, first
    assert set(first) == {"access_token", "refresh_token", "expires_in_ms"}
    # The old access token is revoked at once.
    assert (await whoami(http, at1))[0] == 401
    # The old refresh token still works until the new tokens are used (a lost response).
    status, second = await post(http, REFRESH, {"refresh_token": rt1})
    assert status == 200
    # Whichever new pair is used first wins: here the retry's.
    status, who = await whoami(http, second["access_token"])
    assert status == 200 and who["device_id"] == login["device_id"]
    # Using it revoked the old refresh token and the other pair.
    assert (await whoami(http, first["access_token"]))[0] == 401
    status, error = await post(http, REFRESH, {"refresh_token": rt1})
    assert (status, error["errcode"], error["soft_logout"]) == (401, "M_UNKNOWN_TOKEN", False)
    assert (await post(http, REFRESH, {"refresh_token": first["refresh_token"]}))[0] == 401

    # Using the new refresh token directly revokes its predecessor too.
    status, third = await post(http, REFRESH, {"refresh_token": second["refresh_token"]})
    assert status == 200
    status, fourth = await post(http, REFRESH, {"refresh_token": third["refresh_token"]})
    assert status == 200
    assert (await post(http, REFRESH, {"refresh_token": second["refresh_token"]}))[0] == 401
    assert (await whoami(http, fourth["access_token"]))[0] == 200


async def test_refresh_errors(http: aiohttp.ClientSession) -> None:
    assert (await post(http, REFRESH, {}))[1]["errcode"] == "M_MISSING_PARAM"
    assert (await post(http, REFRESH, {"refresh_token": 1}))[1]["errcode"] == "M_INVALID_PARAM"
    status, error = await post(http, REFRESH, {"refresh_token": "vrt_nope"})
    assert (status, error["errcode"]) == (401, "M_UNKNOWN_TOKEN")


async def test_expired_access_token_is_a_soft_logout(
    http: aiohttp.ClientSession, make_user: Any, homeserver: HomeServer
) -> None:
    fay: TestUser = await make_user("fay")
    expired = await homeserver.accounts.create_access_token(fay.user_id, fay.device_id, 1)
    status, error = await whoami(http, expired)
    assert (status, error["errcode"], error["soft_logout"]) == (401, "M_UNKNOWN_TOKEN", True)
    # Logging in again with the same device ID resumes the device.
    _, login = await post(http, LOGIN, password_login("fay", fay.password,
                                                       device_id=fay.device_id))
    assert login["device_id"] == fay.device_id


async def test_logout_deletes_the_device(http: aiohttp.ClientSession, make_user: Any) -> None:
    gus: TestUser = await make_user("gus")
    _, other = await post(http, LOGIN, password_login("gus", gus.password))
    assert (await post(http, "/_matrix/client/v3/logout", token=gus.access_token))[0] == 200
    assert (await whoami(http, gus.access_token))[0] == 401
    async with http.get("/_matrix/client/v3/devices",
                        headers={"Authorization": f"Bearer {other['access_token']}"}) as r:
        assert [d["device_id"] for d in (await r.json())["devices"]] == [other["device_id"]]
    status, error = await post(http, "/_matrix/client/v3/logout")
    assert (status, error["errcode"]) == (401, "M_MISSING_TOKEN")


async def test_logout_all(http: aiohttp.ClientSession, make_user: Any) -> None:
    hal: TestUser = await make_user("hal")
    _, other = await post(http, LOGIN, password_login("hal", hal.password, refresh_token=True))
    status, _ = await post(http, "/_matrix/client/v3/logout/all", token=other["access_token"])
    assert status == 200
    assert (await whoami(http, hal.access_token))[0] == 401
    assert (await whoami(http, other["access_token"]))[0] == 401
    assert (await post(http, REFRESH, {"refresh_token": other["refresh_token"]}))[0] == 401
    # The account itself still works.
    assert (await post(http, LOGIN, password_login("hal", hal.password)))[0] == 200
