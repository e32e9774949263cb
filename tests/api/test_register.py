"""POST /register, GET /register/available and registration-token validity, over HTTP."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from veche.homeserver import HomeServer

from .conftest import SERVER_NAME

REGISTER = "/_matrix/client/v3/register"
AVAILABLE = "/_matrix/client/v3/register/available"
VALIDITY = "/_matrix/client/v1/register/m.login.registration_token/validity"
WHOAMI = "/_matrix/client/v3/account/whoami"


async def post(http: aiohttp.ClientSession, path: str, body: Any, **kw: Any) -> tuple[int, dict]:
    async with http.post(path, json=body, **kw) as response:
        return response.status, await response.json()


class TestOpenRegistration:
    @pytest.fixture
    def server_settings(self) -> dict[str, str]:
        return {"VECHE_REGISTRATION": "open"}

    async def test_uia_two_steps_with_dummy(self, http: aiohttp.ClientSession) -> None:
        body = {"username": "alice", "password": "pw", "initial_device_display_name": "Phone"}
        status, challenge = await post(http, REGISTER, body)
        assert status == 401
        assert challenge["flows"] == [{"stages": ["m.login.dummy"]}]
        assert isinstance(challenge["session"], str) and challenge["params"] == {}
        assert "errcode" not in challenge
        body["auth"] = {"type": "m.login.dummy", "session": challenge["session"]}
        status, result = await post(http, REGISTER, body)
        assert status == 200, result
        assert result["user_id"] == f"@alice:{SERVER_NAME}"
        assert result["home_server"] == SERVER_NAME
        assert "refresh_token" not in result and "expires_in_ms" not in result
        headers = {"Authorization": f"Bearer {result['access_token']}"}
        async with http.get(WHOAMI, headers=headers) as response:
            assert await response.json() == {
                "user_id": result["user_id"],
                "device_id": result["device_id"],
                "is_guest": False,
            }
        async with http.get("/_matrix/client/v3/devices", headers=headers) as response:
            devices = (await response.json())["devices"]
        assert [(d["device_id"], d["display_name"]) for d in devices] == [
            (result["device_id"], "Phone")
        ]

    async def test_one_step_dummy_without_session(self, http: aiohttp.ClientSession) -> None:
        # matrix-nio registers like this (INTEROP.md).
        body = {"username": "nio", "password": "pw", "auth": {"type": "m.login.dummy"}}
        status, result = await post(http, REGISTER, body)
        assert status == 200, result
        assert result["user_id"] == f"@nio:{SERVER_NAME}"

    async def test_device_id_refresh_token_and_login(self, http: aiohttp.ClientSession) -> None:
        body = {
            "username": "Carol",
            "password": "pw",
            "device_id": "MYDEVICE",
            "refresh_token": True,
            "auth": {"type": "m.login.dummy"},
        }
        status, result = await post(http, REGISTER, body)
        assert status == 200, result
        assert result["user_id"] == f"@carol:{SERVER_NAME}"  # names are lowercased
        assert result["device_id"] == "MYDEVICE"
        assert result["refresh_token"] and result["expires_in_ms"] > 0
        login = {"type": "m.login.password", "user": "carol", "password": "pw"}
        status, logged_in = await post(http, "/_matrix/client/v3/login", login)
        assert status == 200 and logged_in["user_id"] == result["user_id"]

    async def test_random_localpart_and_inhibit_login(self, http: aiohttp.ClientSession) -> None:
        body = {"password": "pw", "inhibit_login": True, "auth": {"type": "m.login.dummy"}}
        status, result = await post(http, REGISTER, body)
        assert status == 200, result
        assert result["user_id"].startswith("@") and result["user_id"].endswith(f":{SERVER_NAME}")
        assert "access_token" not in result and "device_id" not in result

    async def test_username_checked_before_auth(self, http: aiohttp.ClientSession) -> None:
        status, _ = await post(http, REGISTER, {"username": "dave", "password": "pw",
                                                "auth": {"type": "m.login.dummy"}})
        assert status == 200
        for username, errcode in [
            ("dave", "M_USER_IN_USE"),
            ("DAVE", "M_USER_IN_USE"),
            ("bad name", "M_INVALID_USERNAME"),
            ("é", "M_INVALID_USERNAME"),
            ("12345", "M_INVALID_USERNAME"),
            ("x" * 300, "M_INVALID_USERNAME"),
            (42, "M_INVALID_USERNAME"),
        ]:
            status, error = await post(http, REGISTER, {"username": username, "password": "pw"})
            assert (status, error["errcode"]) == (400, errcode), username

    async def test_bad_requests(self, http: aiohttp.ClientSession) -> None:
        async with http.post(REGISTER, data=b"{not json") as response:
            assert response.status == 400
            assert (await response.json())["errcode"] == "M_NOT_JSON"
        dummy = {"type": "m.login.dummy"}
        cases = [
            ({"username": "e", "auth": dummy}, "M_MISSING_PARAM"),
            ({"username": "e", "password": 5, "auth": dummy}, "M_INVALID_PARAM"),
            ({"username": "e", "password": "pw", "device_id": 7, "auth": dummy}, "M_INVALID_PARAM"),
            ({"username": "e", "password": "pw", "inhibit_login": "yes", "auth": dummy},
             "M_INVALID_PARAM"),
            ({"username": "e", "password": "pw", "auth": "dummy"}, "M_INVALID_PARAM"),
            ({"username": "e", "password": "pw", "auth": {"type": "m.login.dummy",
                                                          "session": "nope"}}, "M_UNKNOWN"),
        ]
        for body, errcode in cases:
            status, error = await post(http, REGISTER, body)
            assert (status, error["errcode"]) == (400, errcode), body
        status, _ = await post(http, REGISTER + "?kind=admin", {})
        assert status == 400

    async def test_wrong_stage_is_a_401_with_error(self, http: aiohttp.ClientSession) -> None:
        body = {"username": "f", "password": "pw", "auth": {"type": "m.login.password"}}
        status, result = await post(http, REGISTER, body)
        assert status == 401
        assert result["errcode"] == "M_FORBIDDEN" and "flows" in result and "session" in result

    async def test_available(self, http: aiohttp.ClientSession, make_user: Any) -> None:
        await make_user("taken")
        async with http.get(AVAILABLE, params={"username": "free"}) as response:
            assert (response.status, await response.json()) == (200, {"available": True})
        async with http.get(AVAILABLE, params={"username": "taken"}) as response:
            assert response.status == 400
            assert (await response.json())["errcode"] == "M_USER_IN_USE"
        async with http.get(AVAILABLE, params={"username": "no way"}) as response:
            assert (await response.json())["errcode"] == "M_INVALID_USERNAME"
        async with http.get(AVAILABLE) as response:
            assert (await response.json())["errcode"] == "M_MISSING_PARAM"

    async def test_guests_are_refused_by_default(self, http: aiohttp.ClientSession) -> None:
        status, error = await post(http, REGISTER + "?kind=guest", {})
        assert (status, error["errcode"]) == (403, "M_FORBIDDEN")

    async def test_validity_without_token_mode(self, http: aiohttp.ClientSession) -> None:
        async with http.get(VALIDITY, params={"token": "abc"}) as response:
            assert (response.status, await response.json()) == (200, {"valid": False})

    async def test_threepid_request_token_is_denied(self, http: aiohttp.ClientSession) -> None:
        body = {"client_secret": "s", "email": "a@example.org", "send_attempt": 1}
        status, error = await post(http, REGISTER + "/email/requestToken", body)
        assert (status, error["errcode"]) == (403, "M_THREEPID_DENIED")


class TestGuests:
    @pytest.fixture
    def server_settings(self) -> dict[str, str]:
        return {"VECHE_ALLOW_GUEST_ACCESS": "on"}

    async def test_guest_registration(self, http: aiohttp.ClientSession) -> None:
        body = {"username": "ignored", "device_id": "IGNORED", "initial_device_display_name": "G"}
        status, result = await post(http, REGISTER + "?kind=guest", body)
        assert status == 200, result
        assert result["user_id"] != f"@ignored:{SERVER_NAME}"
        assert result["device_id"] != "IGNORED"
        headers = {"Authorization": f"Bearer {result['access_token']}"}
        async with http.get(WHOAMI, headers=headers) as response:
            assert (await response.json())["is_guest"] is True
        # Guests have no password to change.
        async with http.post("/_matrix/client/v3/account/password", headers=headers,
                             json={"new_password": "x"}) as response:
            assert response.status == 403
            assert (await response.json())["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"


class TestClosedRegistration:
    async def test_closed_by_default(self, http: aiohttp.ClientSession) -> None:
        status, error = await post(http, REGISTER, {"username": "x", "password": "pw"})
        assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
        async with http.get(VALIDITY, params={"token": "abc"}) as response:
            assert response.status == 403
            assert (await response.json())["errcode"] == "M_FORBIDDEN"


class TestTokenRegistration:
    @pytest.fixture
    def server_settings(self) -> dict[str, str]:
        return {"VECHE_REGISTRATION": "token"}

    async def register(self, http: aiohttp.ClientSession, username: str, token: str) -> tuple[int, dict]:
        body = {"username": username, "password": "pw"}
        status, challenge = await post(http, REGISTER, body)
        assert status == 401
        assert challenge["flows"] == [{"stages": ["m.login.registration_token"]}]
        body["auth"] = {
            "type": "m.login.registration_token",
            "token": token,
            "session": challenge["session"],
        }
        return await post(http, REGISTER, body)

    async def test_token_is_used_up(
        self, http: aiohttp.ClientSession, homeserver: HomeServer
    ) -> None:
        await homeserver.registration_tokens.create("twice", 2, None)
        async with http.get(VALIDITY, params={"token": "twice"}) as response:
            assert await response.json() == {"valid": True}
        for name in ("u1", "u2"):
            status, result = await self.register(http, name, "twice")
            assert status == 200, result
        token = await homeserver.registration_tokens.get("twice")
        assert token is not None and token.completed == 2
        async with http.get(VALIDITY, params={"token": "twice"}) as response:
            assert await response.json() == {"valid": False}
        status, result = await self.register(http, "u3", "twice")
        assert status == 401
        assert result["errcode"] == "M_UNAUTHORIZED" and "completed" not in result

    async def test_expired_and_unknown_tokens(
        self, http: aiohttp.ClientSession, homeserver: HomeServer
    ) -> None:
        await homeserver.registration_tokens.create("old", None, int(time.time() * 1000) - 1)
        for token in ("old", "unknown"):
            status, result = await self.register(http, "x", token)
            assert (status, result["errcode"]) == (401, "M_UNAUTHORIZED")
        async with http.get(VALIDITY, params={"token": "old"}) as response:
            assert await response.json() == {"valid": False}
        async with http.get(VALIDITY) as response:
            assert (await response.json())["errcode"] == "M_MISSING_PARAM"

    async def test_dummy_is_not_enough(self, http: aiohttp.ClientSession) -> None:
        body = {"username": "d", "password": "pw", "auth": {"type": "m.login.dummy"}}
        status, result = await post(http, REGISTER, body)
        assert status == 401 and result["errcode"] == "M_FORBIDDEN"

    async def test_retry_after_success_with_same_session(
        self, http: aiohttp.ClientSession, homeserver: HomeServer
    ) -> None:
        await homeserver.registration_tokens.create("many", None, None)
        body = {"username": "r1", "password": "pw"}
        _, challenge = await post(http, REGISTER, body)
        auth = {"type": "m.login.registration_token", "token": "many",
                "session": challenge["session"]}
        status, _ = await post(http, REGISTER, {**body, "auth": auth})
        assert status == 200
        # The completed stage is not re-run; the session still authorises a registration.
        status, result = await post(http, REGISTER, {"username": "r2", "password": "pw",
                                                     "auth": {"session": challenge["session"]}})
        assert status == 200, result
