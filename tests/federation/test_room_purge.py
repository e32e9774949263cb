"""A room purged on one server while another server's user is still in it: the other
server's later events in it are not stored, and federation in other rooms goes on."""

from __future__ import annotations

import asyncio

from veche.homeserver import HomeServer
from veche.services.admin.rooms import RoomDeletion
from veche.services.federation.client import federation_path
from veche.services.federation.outbox import SEND_PATH
from veche.services.rooms.sending import EventDraft

from .test_send import timeline_of, wait_for


async def test_purged_room_stays_purged_and_other_rooms_federate(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    doomed = await a.room_creator.create_room(alice, {"preset": "public_chat"})
    other = await a.room_creator.create_room(alice, {"preset": "public_chat"})
    for room_id in (doomed, other):
        assert await b.membership.join(bob, room_id, via=[a.server_name]) == room_id

    result = await a.admin.rooms.delete(alice, doomed, RoomDeletion(block=True))
    assert result.kicked_users == [alice]
    assert await a.stores.state.get_current_state_ids(doomed) == {}

    late = await b.sender.send(doomed, bob, EventDraft("m.room.message", {"body": "anyone?"}))
    reply = await b.sender.send(other, bob, EventDraft("m.room.message", {"body": "hi"}))

    async def a_has_reply() -> bool:
        return reply.event_id in await timeline_of(a, other)

    await wait_for(a_has_reply)
    # B knows A left, so sends it nothing of the room: a server that did not, in one
    # transaction with an event of another room.
    more = await b.sender.send(other, bob, EventDraft("m.room.message", {"body": "more"}))
    body = {"origin": b.server_name, "origin_server_ts": b.sender.now_ms(), "pdus": [late.pdu, more.pdu], "edus": []}
    answer = await b.federation.client.put_json(a.server_name, federation_path(SEND_PATH, "purge-test"), body)
    assert "error" not in answer["pdus"][more.event_id] and "error" in answer["pdus"][late.event_id]

    async def a_has_more() -> bool:
        return more.event_id in await timeline_of(a, other)

    await wait_for(a_has_more)
    await asyncio.sleep(0.5)
    assert await a.stores.events.get_events([late.event_id]) == {}
    assert await a.stores.state.get_current_state_ids(doomed) == {}
    hello = await a.sender.send(other, alice, EventDraft("m.room.message", {"body": "hello"}))

    async def b_has_hello() -> bool:
        return hello.event_id in await timeline_of(b, other)

    await wait_for(b_has_hello)
