"""Joins and invites are rate limited per user (joining.yaml and inviting.yaml list 429)."""

from __future__ import annotations

import pytest

V3 = "/_matrix/client/v3"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_RATE_LIMITS": "on"}


async def test_invites_are_rate_limited(http, make_user):
    alice = await make_user("alice")
    async with http.post(f"{V3}/createRoom", json={}, headers=alice.headers) as response:
        room_id = (await response.json())["room_id"]
    statuses = []
    for i in range(12):
        body = {"user_id": f"@guest{i}:veche.test"}
        async with http.post(f"{V3}/rooms/{room_id}/invite", json=body, headers=alice.headers) as response:
            statuses.append(response.status)
            if response.status == 429:
                assert (await response.json())["errcode"] == "M_LIMIT_EXCEEDED"
                assert "Retry-After" in response.headers
    assert statuses[0] == 200 and statuses[-1] == 429
