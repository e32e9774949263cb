"""Two Veche servers over TLS: invites across servers both ways, accepted by joining
through make_join/send_join, and rejected through make_leave/send_leave."""

from __future__ import annotations

import pytest

from veche.homeserver import HomeServer
from veche.protocol.filters import DEFAULT_FILTER
from veche.storage.accounts import TokenInfo

from .test_joins import create_room
from .test_send import wait_for


async def membership_of(hs: HomeServer, user_id: str, room_id: str) -> str | None:
    for m in await hs.stores.rooms.get_memberships_for_user(user_id):
        if m.room_id == room_id:
            return m.membership
    return None


@pytest.mark.parametrize("version", ["1", "12"])
async def test_invite_to_a_remote_user_then_join(servers: tuple[HomeServer, HomeServer], version: str) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, version, preset="private_chat")

    await a.membership.invite(alice, room_id, bob)

    # A holds the invite countersigned by B; B keeps it out of band, with the preview.
    member = await a.stores.events.get_current_state_event(room_id, "m.room.member", bob)
    assert member is not None and member.membership == "invite"
    assert set(member.pdu["signatures"]) == {a.server_name, b.server_name}
    assert await membership_of(b, bob, room_id) == "invite"
    assert not await b.stores.events.get_forward_extremities(room_id)
    kept = await b.stores.events.get_event(member.event_id)
    assert kept is not None
    preview = {e["type"] for e in kept.pdu["unsigned"]["invite_room_state"]}
    assert {"m.room.create", "m.room.join_rules", "m.room.member"} <= preview

    # Bob's /sync shows the invite with the preview the resident server sent.
    requester = TokenInfo(token_id=0, user_id=bob, device_id="BOBDEVICE", is_guest=False, expires_ts=None)
    synced = await b.sync.sync(requester, since=None, sync_filter=DEFAULT_FILTER, full_state=False, timeout_ms=0)
    invite_state = synced["rooms"]["invite"][room_id]["invite_state"]["events"]
    assert {"m.room.create", "m.room.join_rules"} <= {e["type"] for e in invite_state}
    assert [e["content"]["membership"] for e in invite_state if e.get("state_key") == bob] == ["invite"]

    # The invite names the server to join through.
    assert await b.membership.join(bob, room_id) == room_id
    assert await membership_of(b, bob, room_id) == "join"

    async def a_sees_join() -> bool:
        return bob in await a.stores.rooms.get_joined_members(room_id)

    await wait_for(a_sees_join)


async def test_rejecting_a_remote_invite(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, "11", preset="private_chat")
    await a.membership.invite(alice, room_id, bob)

    await b.membership.leave(bob, room_id)

    assert await membership_of(b, bob, room_id) == "leave"
    member = await a.stores.events.get_current_state_event(room_id, "m.room.member", bob)
    assert member is not None and member.membership == "leave"
