"""GET /voip/turnServer (modules/voip_events.md): time-limited TURN credentials when a TURN
server is configured, an empty object when none is."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import aiohttp
import pytest

from veche.config import ConfigError, load_config
from veche.services.voip import turn_credentials

TURN = "/_matrix/client/v3/voip/turnServer"
URIS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"]


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_TURN_URIS": ",".join(URIS), "VECHE_TURN_SHARED_SECRET": "s3cret", "VECHE_TURN_USER_LIFETIME": "3600"}


def test_credentials_follow_the_turn_rest_scheme() -> None:
    username, password = turn_credentials("s3cret", "@alice:example.org", 1443779631)
    assert username == "1443779631:@alice:example.org"
    expected = hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(password) == expected


async def test_configured_turn_server(http: aiohttp.ClientSession, make_user) -> None:
    alice = await make_user("alice")
    async with http.get(TURN, headers=alice.headers) as response:
        assert response.status == 200
        body = await response.json()
    assert body["uris"] == URIS
    assert body["ttl"] == 3600
    expiry, user_id = body["username"].split(":", 1)
    assert user_id == alice.user_id
    assert abs(int(expiry) - (time.time() + 3600)) < 60
    assert body["password"] == turn_credentials("s3cret", alice.user_id, int(expiry))[1]


async def test_requires_authentication(http: aiohttp.ClientSession) -> None:
    async with http.get(TURN) as response:
        assert response.status == 401
        assert (await response.json())["errcode"] == "M_MISSING_TOKEN"


class TestWithoutTurnServer:
    @pytest.fixture
    def server_settings(self) -> dict[str, str]:
        return {}

    async def test_empty_answer(self, http: aiohttp.ClientSession, make_user) -> None:
        alice = await make_user("alice")
        async with http.get(TURN, headers=alice.headers) as response:
            assert response.status == 200
            assert await response.json() == {}


def test_turn_settings_are_checked() -> None:
    base = {"VECHE_SERVER_NAME": "example.org"}
    with pytest.raises(ConfigError):
        load_config(None, {**base, "VECHE_TURN_URIS": URIS[0]})
    with pytest.raises(ConfigError):
        load_config(None, {**base, "VECHE_TURN_URIS": "stun:stun.example.org", "VECHE_TURN_SHARED_SECRET": "x"})
    config = load_config(None, {**base, "VECHE_TURN_URIS": ",".join(URIS), "VECHE_TURN_SHARED_SECRET": "x"})
    assert config.turn_uris == tuple(URIS) and config.turn_user_lifetime == 86400
