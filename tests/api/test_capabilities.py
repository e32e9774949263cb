"""GET /capabilities over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS

from .conftest import TestUser

CAPABILITIES = "/_matrix/client/v3/capabilities"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_DEFAULT_ROOM_VERSION": "11"}


async def test_capabilities(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    async with http.get(CAPABILITIES, headers=alice.headers) as response:
        assert response.status == 200
        capabilities = (await response.json())["capabilities"]
    assert capabilities["m.change_password"] == {"enabled": True}
    assert capabilities["m.room_versions"] == {
        "default": "11",
        "available": {str(n): "stable" for n in range(1, 13)},
    }
    assert set(capabilities["m.room_versions"]["available"]) == set(KNOWN_ROOM_VERSIONS)
    assert capabilities["m.set_displayname"] == {"enabled": True}
    assert capabilities["m.set_avatar_url"] == {"enabled": True}
    assert capabilities["m.3pid_changes"] == {"enabled": False}
    assert capabilities["m.get_login_token"] == {"enabled": False}
    assert capabilities["m.profile_fields"] == {"enabled": True}
    assert capabilities["m.forget_forced_upon_leave"] == {"enabled": False}
    # No account locking or suspension: the capability is omitted, as the spec asks.
    assert "m.account_moderation" not in capabilities


async def test_capabilities_need_a_token(http: aiohttp.ClientSession) -> None:
    async with http.get(CAPABILITIES) as response:
        assert response.status == 401
        assert (await response.json())["errcode"] == "M_MISSING_TOKEN"
