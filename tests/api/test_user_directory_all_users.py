"""The user directory with `user_directory_search_all_users` on: every local user is found."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

V3 = "/_matrix/client/v3"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_USER_DIRECTORY_SEARCH_ALL_USERS": "on"}


async def test_users_sharing_no_room_are_found(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    async with http.put(
        f"{V3}/profile/{bob.user_id}/displayname", json={"displayname": "Hermit"}, headers=bob.headers
    ) as response:
        assert response.status == 200
    async with http.post(f"{V3}/user_directory/search", json={"search_term": "herm"}, headers=alice.headers) as response:
        assert response.status == 200
        result = await response.json()
    assert result == {"results": [{"user_id": bob.user_id, "display_name": "Hermit"}], "limited": False}
