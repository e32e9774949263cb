"""Two Veche servers over TLS: knocking on a room held by the other server, and
retracting the knock, through make_knock/send_knock and make_leave/send_leave."""

from __future__ import annotations

import pytest

from veche.errors import MatrixError
from veche.homeserver import HomeServer
from veche.services.rooms.sending import EventDraft

from .test_invites import membership_of
from .test_joins import create_room


async def knock_room(a: HomeServer, alice: str) -> str:
    room_id = await create_room(a, alice, "12", preset="private_chat")
    await a.sender.send(room_id, alice, EventDraft("m.room.join_rules", {"join_rule": "knock"}, ""))
    return room_id


async def test_knock_then_retract(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await knock_room(a, alice)

    assert await b.membership.knock(bob, room_id, via=[a.server_name], reason="let me in") == room_id

    member = await a.stores.events.get_current_state_event(room_id, "m.room.member", bob)
    assert member is not None and member.membership == "knock"
    assert member.content["reason"] == "let me in"
    assert await membership_of(b, bob, room_id) == "knock"

    await b.membership.leave(bob, room_id)
    member = await a.stores.events.get_current_state_event(room_id, "m.room.member", bob)
    assert member is not None and member.membership == "leave"
    assert await membership_of(b, bob, room_id) == "leave"


async def test_knock_refused_where_the_rules_forbid_it(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    room_id = await create_room(a, f"@alice:{a.server_name}", "12", preset="private_chat")
    with pytest.raises(MatrixError) as refused:
        await b.membership.knock(f"@bob:{b.server_name}", room_id, via=[a.server_name])
    assert refused.value.status == 403
