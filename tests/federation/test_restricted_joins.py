"""Two Veche servers over TLS: a user of one joins a restricted room on the other by
being in a room its join rules allow; the resident server names a local member who
vouches for the join, and signs the join as the auth rules ask."""

from __future__ import annotations

import pytest

from veche.errors import MatrixError
from veche.homeserver import HomeServer

from .test_invites import membership_of


async def restricted_room(a: HomeServer, creator: str, allowed_room: str, version: str) -> str:
    join_rules = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": allowed_room}]}
    return await a.room_creator.create_room(creator, {
        "preset": "private_chat", "room_version": version,
        "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": join_rules}],
    })


@pytest.mark.parametrize("version", ["8", "12"])
async def test_a_member_of_the_allowed_room_joins(servers: tuple[HomeServer, HomeServer], version: str) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    space_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": version})
    room_id = await restricted_room(a, alice, space_id, version)
    await b.membership.join(bob, space_id, via=[a.server_name])

    assert await b.membership.join(bob, room_id, via=[a.server_name]) == room_id

    assert await membership_of(b, bob, room_id) == "join"
    join = await a.stores.events.get_current_state_event(room_id, "m.room.member", bob)
    assert join is not None and join.membership == "join"
    assert join.content["join_authorised_via_users_server"] == alice
    assert {a.server_name, b.server_name} <= set(join.pdu["signatures"])


async def test_a_stranger_to_the_allowed_room_is_refused(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, carol = f"@alice:{a.server_name}", f"@carol:{b.server_name}"
    space_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": "10"})
    room_id = await restricted_room(a, alice, space_id, "10")

    with pytest.raises(MatrixError) as refused:
        await b.membership.join(carol, room_id, via=[a.server_name])

    assert refused.value.status == 403
    assert await membership_of(a, carol, room_id) is None
