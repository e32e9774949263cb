"""The ACL checker reads a room's current m.room.server_acl (on both engines)."""

from __future__ import annotations

import pytest

from tests.api.conftest import homeserver, make_user, server_settings  # noqa: F401  (fixtures)
from veche.errors import MatrixError
from veche.homeserver import HomeServer
from veche.services.rooms.sending import EventDraft


async def test_acl_follows_the_current_state(homeserver: HomeServer, make_user) -> None:  # noqa: F811, ANN001
    alice = await make_user("alice")
    room_id = await homeserver.room_creator.create_room(alice.user_id, {})
    acl = homeserver.federation.acl
    assert await acl.is_allowed(room_id, "evil.com:8448")

    content = {"allow": ["*"], "deny": ["evil.com"], "allow_ip_literals": False}
    await homeserver.sender.send(room_id, alice.user_id, EventDraft("m.room.server_acl", content, ""))
    assert not await acl.is_allowed(room_id, "evil.com:8448")
    assert not await acl.is_allowed(room_id, "127.0.0.1:8448")
    assert await acl.is_allowed(room_id, "good.example")
    with pytest.raises(MatrixError) as caught:
        await acl.check(room_id, "evil.com")
    assert (caught.value.status, caught.value.errcode) == (403, "M_FORBIDDEN")

    await homeserver.sender.send(room_id, alice.user_id, EventDraft("m.room.server_acl", {"allow": ["*"]}, ""))
    assert await acl.is_allowed(room_id, "evil.com")
