"""whoami, password change, deactivation and the 3PID endpoints over HTTP, including the
User-Interactive Authentication they use."""

from __future__ import annotations

from typing import Any

import aiohttp

from veche.homeserver import HomeServer

from .conftest import TestUser

V3 = "/_matrix/client/v3"
LOGIN = f"{V3}/login"
PASSWORD = f"{V3}/account/password"
DEACTIVATE = f"{V3}/account/deactivate"


async def request(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
    token: str | None = None,
) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


def password_auth(user: TestUser, password: str | None = None, session: str | None = None) -> dict:
    auth: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user.user_id},
        "password": password if password is not None else user.password,
    }
    if session is not None:
        auth["session"] = session
    return auth


async def login(http: aiohttp.ClientSession, user: str, password: str) -> tuple[int, dict]:
    body = {"type": "m.login.password", "user": user, "password": password}
    return await request(http, "POST", LOGIN, body)


async def test_whoami(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    assert await request(http, "GET", f"{V3}/account/whoami", token=alice.access_token) == (
        200,
        {"user_id": alice.user_id, "device_id": alice.device_id, "is_guest": False},
    )
    status, error = await request(http, "GET", f"{V3}/account/whoami")
    assert (status, error["errcode"]) == (401, "M_MISSING_TOKEN")
    status, error = await request(http, "GET", f"{V3}/account/whoami", token="nope")
    assert (status, error["errcode"], error["soft_logout"]) == (401, "M_UNKNOWN_TOKEN", False)


async def test_password_change_multi_step(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    _, other = await login(http, "alice", alice.password)
    body = {"new_password": "new secret"}
    status, challenge = await request(http, "POST", PASSWORD, body, alice.access_token)
    assert status == 401
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    session = challenge["session"]

    # A wrong password is a 401 that keeps the session and carries the error.
    body["auth"] = password_auth(alice, "wrong", session)
    status, failed = await request(http, "POST", PASSWORD, body, alice.access_token)
    assert status == 401
    assert failed["errcode"] == "M_FORBIDDEN" and failed["session"] == session
    assert failed["flows"] == challenge["flows"]

    body["auth"] = password_auth(alice, session=session)
    assert (await request(http, "POST", PASSWORD, body, alice.access_token)) == (200, {})
    # Default logout_devices: every other device is gone, this one stays.
    assert (await request(http, "GET", f"{V3}/account/whoami", token=alice.access_token))[0] == 200
    assert (await request(http, "GET", f"{V3}/account/whoami",
                          token=other["access_token"]))[0] == 401
    assert (await login(http, "alice", alice.password))[0] == 403
    assert (await login(http, "alice", "new secret"))[0] == 200


async def test_password_change_keeping_devices(http: aiohttp.ClientSession, make_user: Any) -> None:
    bob: TestUser = await make_user("bob")
    _, other = await login(http, "bob", bob.password)
    body = {"new_password": "n", "logout_devices": False, "auth": password_auth(bob)}
    assert (await request(http, "POST", PASSWORD, body, bob.access_token)) == (200, {})
    assert (await request(http, "GET", f"{V3}/account/whoami",
                          token=other["access_token"]))[0] == 200


async def test_password_change_without_access_token(
    http: aiohttp.ClientSession, make_user: Any
) -> None:
    carol: TestUser = await make_user("carol")
    body = {"new_password": "n", "auth": password_auth(carol)}
    assert (await request(http, "POST", PASSWORD, body)) == (200, {})
    # Unauthenticated: no device is the caller's, so all of them are logged out.
    assert (await request(http, "GET", f"{V3}/account/whoami",
                          token=carol.access_token))[0] == 401
    assert (await login(http, "carol", "n"))[0] == 200


async def test_password_change_bad_requests(http: aiohttp.ClientSession, make_user: Any) -> None:
    dave: TestUser = await make_user("dave")
    eve: TestUser = await make_user("eve")
    cases = [
        ({}, 400, "M_MISSING_PARAM"),
        ({"new_password": 1}, 400, "M_INVALID_PARAM"),
        ({"new_password": "n", "logout_devices": "no"}, 400, "M_INVALID_PARAM"),
        ({"new_password": "n", "auth": []}, 400, "M_INVALID_PARAM"),
        ({"new_password": "n", "auth": {"type": "m.login.password", "session": "gone"}},
         400, "M_UNKNOWN"),
        # Eve's password cannot authorise Dave's request.
        ({"new_password": "n", "auth": password_auth(eve)}, 401, "M_FORBIDDEN"),
        ({"new_password": "n", "auth": {"type": "m.login.password", "password": "x",
                                        "identifier": {"type": "m.id.user", "user": "dave"}}},
         401, "M_FORBIDDEN"),
        ({"new_password": "n", "auth": {"type": "m.login.dummy"}}, 401, "M_FORBIDDEN"),
        ({"new_password": "n" * 600, "auth": password_auth(dave)}, 400, "M_INVALID_PARAM"),
    ]
    for body, status, errcode in cases:
        got_status, error = await request(http, "POST", PASSWORD, body, dave.access_token)
        assert (got_status, error.get("errcode")) == (status, errcode), body


async def test_session_is_bound_to_its_request(http: aiohttp.ClientSession, make_user: Any) -> None:
    fay: TestUser = await make_user("fay")
    status, challenge = await request(
        http, "POST", f"{V3}/delete_devices", {"devices": []}, fay.access_token
    )
    assert status == 401
    body = {"new_password": "n", "auth": password_auth(fay, session=challenge["session"])}
    status, error = await request(http, "POST", PASSWORD, body, fay.access_token)
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")


async def test_completed_session_answers_a_retry(
    http: aiohttp.ClientSession, make_user: Any
) -> None:
    gus: TestUser = await make_user("gus")
    body = {"new_password": "n", "logout_devices": False, "auth": password_auth(gus)}
    status, challenge = await request(http, "POST", PASSWORD, {"new_password": "n"},
                                      gus.access_token)
    body["auth"]["session"] = challenge["session"]
    assert (await request(http, "POST", PASSWORD, body, gus.access_token))[0] == 200
    # The stage is not re-checked (the old password would now fail); the retry succeeds.
    assert (await request(http, "POST", PASSWORD, body, gus.access_token))[0] == 200
    retry = {"new_password": "n2", "auth": {"session": challenge["session"]}}
    assert (await request(http, "POST", PASSWORD, retry, gus.access_token))[0] == 200
    assert (await login(http, "gus", "n2"))[0] == 200


async def test_deactivate(
    http: aiohttp.ClientSession, make_user: Any, homeserver: HomeServer
) -> None:
    hal: TestUser = await make_user("hal")
    _, other = await login(http, "hal", hal.password)
    seen: list[str] = []

    async def hook(user_id: str) -> None:
        seen.append(user_id)

    homeserver.auth_service.on_account_deactivated.append(hook)
    status, challenge = await request(http, "POST", DEACTIVATE, {}, hal.access_token)
    assert status == 401 and challenge["flows"] == [{"stages": ["m.login.password"]}]
    body = {"erase": False, "auth": password_auth(hal, session=challenge["session"])}
    status, result = await request(http, "POST", DEACTIVATE, body, hal.access_token)
    assert (status, result) == (200, {"id_server_unbind_result": "success"})
    assert seen == [hal.user_id]
    for token in (hal.access_token, other["access_token"]):
        assert (await request(http, "GET", f"{V3}/account/whoami", token=token))[0] == 401
    status, error = await login(http, "hal", hal.password)
    assert (status, error["errcode"]) == (403, "M_USER_DEACTIVATED")
    # The name is never handed out again.
    account = await homeserver.accounts.get_account(hal.user_id)
    assert account is not None and account.deactivated


async def test_deactivate_bad_requests(http: aiohttp.ClientSession, make_user: Any) -> None:
    ivy: TestUser = await make_user("ivy")
    for body in ({"erase": "yes"}, {"id_server": 5}):
        status, error = await request(http, "POST", DEACTIVATE, body, ivy.access_token)
        assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    async with http.post(DEACTIVATE, data=b"nope",
                         headers={"Authorization": f"Bearer {ivy.access_token}"}) as response:
        assert (await response.json())["errcode"] == "M_NOT_JSON"


async def test_threepids(http: aiohttp.ClientSession, make_user: Any) -> None:
    jo: TestUser = await make_user("jo")
    token = jo.access_token
    assert await request(http, "GET", f"{V3}/account/3pid", token=token) == (
        200, {"threepids": []}
    )
    creds = {"client_secret": "s", "sid": "1"}
    cases = [
        ("/account/3pid", {"three_pid_creds": creds}, 403, "M_THREEPID_AUTH_FAILED", token),
        ("/account/3pid/add", creds, 403, "M_THREEPID_AUTH_FAILED", token),
        ("/account/3pid/bind", {**creds, "id_server": "id.example", "id_access_token": "t"},
         400, "M_SERVER_NOT_TRUSTED", token),
        ("/account/3pid/delete", {"medium": "email", "address": "a@x.org"},
         400, "M_THREEPID_NOT_FOUND", token),
        ("/account/3pid/unbind", {"medium": "email", "address": "a@x.org"},
         400, "M_THREEPID_NOT_FOUND", token),
        ("/account/3pid/email/requestToken",
         {"client_secret": "s", "email": "a@x.org", "send_attempt": 1},
         403, "M_THREEPID_DENIED", token),
        # administrative_contact.yaml lists no security for the requestToken endpoints.
        ("/account/3pid/msisdn/requestToken",
         {"client_secret": "s", "country": "GB", "phone_number": "1", "send_attempt": 1},
         403, "M_THREEPID_DENIED", None),
        ("/account/password/email/requestToken",
         {"client_secret": "s", "email": "a@x.org", "send_attempt": 1},
         400, "M_THREEPID_NOT_FOUND", None),
    ]
    for path, body, status, errcode, auth in cases:
        got_status, error = await request(http, "POST", V3 + path, body, auth)
        assert (got_status, error["errcode"]) == (status, errcode), path
    status, error = await request(http, "GET", f"{V3}/account/3pid")
    assert (status, error["errcode"]) == (401, "M_MISSING_TOKEN")
