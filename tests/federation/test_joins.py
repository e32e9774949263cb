"""Two Veche servers over TLS: a user of one joins (and fails to join) a room on the
other through make_join/send_join, both servers then hold the room and events flow."""

from __future__ import annotations

import pytest

from veche.errors import MatrixError
from veche.homeserver import HomeServer
from veche.services.federation.client import FederationHttpError, federation_path
from veche.services.rooms.sending import EventDraft

from .test_send import timeline_of, wait_for


async def create_room(hs: HomeServer, creator: str, version: str, preset: str = "public_chat") -> str:
    return await hs.room_creator.create_room(creator, {"preset": preset, "room_version": version, "name": "Over there"})


@pytest.mark.parametrize("version", ["1", "10", "12"])
async def test_remote_user_joins_and_both_servers_hold_the_room(
    servers: tuple[HomeServer, HomeServer], version: str
) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, version)

    assert await b.membership.join(bob, room_id, via=[a.server_name]) == room_id

    b_state = await b.stores.state.get_current_state_ids(room_id)
    a_state = await a.stores.state.get_current_state_ids(room_id)
    assert b_state == a_state
    name = await b.stores.events.get_current_state_event(room_id, "m.room.name")
    assert name is not None and name.content["name"] == "Over there"
    assert await b.stores.rooms.get_rooms_for_user(bob, "join") == [room_id]
    join_id = b_state[("m.room.member", bob)]
    assert await b.stores.events.get_forward_extremities(room_id) == [join_id]
    assert set(await a.stores.rooms.get_joined_members(room_id)) == {alice, bob}

    hello = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "hello"}))

    async def b_has_hello() -> bool:
        return hello.event_id in await timeline_of(b, room_id)

    await wait_for(b_has_hello)
    reply = await b.sender.send(room_id, bob, EventDraft("m.room.message", {"body": "hi"}))

    async def a_has_reply() -> bool:
        return reply.event_id in await timeline_of(a, room_id)

    await wait_for(a_has_reply)


async def test_joining_an_invite_only_room_is_refused(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    room_id = await create_room(a, f"@alice:{a.server_name}", "12", preset="private_chat")
    with pytest.raises(MatrixError) as refused:
        await b.membership.join(f"@bob:{b.server_name}", room_id, via=[a.server_name])
    assert refused.value.status == 403
    assert await b.stores.rooms.get_room_version(room_id) is None


async def test_banned_user_cannot_rejoin(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, "11")
    await a.membership.ban(alice, room_id, bob)
    with pytest.raises(MatrixError) as refused:
        await b.membership.join(bob, room_id, via=[a.server_name])
    assert refused.value.status == 403


async def test_make_join_refuses_versions_the_joining_server_lacks(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    room_id = await create_room(a, f"@alice:{a.server_name}", "12")
    path = federation_path("/_matrix/federation/v1/make_join/{}/{}", room_id, f"@bob:{b.server_name}")
    with pytest.raises(FederationHttpError) as refused:
        await b.federation.client.get_json(a.server_name, path, {"ver": ["9", "10"]})
    assert refused.value.errcode == "M_INCOMPATIBLE_ROOM_VERSION"
    assert refused.value.body["room_version"] == "12"
    # Nor may a server ask on behalf of another server's user.
    other = federation_path("/_matrix/federation/v1/make_join/{}/{}", room_id, "@eve:elsewhere.example")
    with pytest.raises(FederationHttpError) as forbidden:
        await b.federation.client.get_json(a.server_name, other, {"ver": ["12"]})
    assert forbidden.value.status == 403


async def test_unknown_room_and_no_servers(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    with pytest.raises(MatrixError) as unknown:
        await b.membership.join(f"@bob:{b.server_name}", f"!nowhere:{a.server_name}", via=[a.server_name])
    assert unknown.value.status == 404
    with pytest.raises(MatrixError) as nowhere:
        await b.membership.join(f"@bob:{b.server_name}", "!abcdefghijklmnopqrstuvwxyz0123456789abcdefg")
    assert nowhere.value.status == 404
