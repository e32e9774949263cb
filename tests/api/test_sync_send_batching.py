"""Concurrent sends into one room are built and persisted together: the room's history
stays one linear chain, a refused draft among them fails alone, and /sync shows them all."""

from __future__ import annotations

import asyncio

from veche.errors import MatrixError
from veche.services.rooms.sending import EventDraft


async def _create_room(http, user) -> str:
    async with http.post("/_matrix/client/v3/createRoom", json={}, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


async def test_concurrent_sends_form_one_chain(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await _create_room(http, alice)
    sender = homeserver.sender
    drafts = [EventDraft("m.room.message", {"msgtype": "m.text", "body": f"m{i}"}) for i in range(25)]
    # One power-levels change mid-way: the drafts after it are authorised against it.
    drafts.insert(10, EventDraft("m.room.topic", {"topic": "batched"}, state_key=""))
    # A draft the auth rules refuse (bob is not in the room) fails on its own.
    drafts.insert(5, None)

    async def send(draft):
        if draft is None:
            return await sender.send(room_id, "@bob:veche.test", EventDraft("m.room.message", {"body": "x"}))
        return await sender.send(room_id, alice.user_id, draft)

    results = await asyncio.gather(*(send(d) for d in drafts), return_exceptions=True)
    assert isinstance(results[5], MatrixError) and results[5].errcode == "M_FORBIDDEN"
    events = [r for i, r in enumerate(results) if i != 5]
    assert all(not isinstance(e, BaseException) for e in events)
    for before, after in zip(events, events[1:]):
        assert after.prev_event_ids == [before.event_id]
        assert after.depth == before.depth + 1
    assert await homeserver.stores.events.get_forward_extremities(room_id) == [events[-1].event_id]
    state = await homeserver.stores.state.get_current_state_ids(room_id)
    assert state[("m.room.topic", "")] == events[10].event_id
    # The state after a message sent after the topic includes it.
    after_last = await homeserver.stores.state.get_state_ids_after(events[-1].event_id)
    assert after_last[("m.room.topic", "")] == events[10].event_id

    async with http.get(
        "/_matrix/client/v3/sync", params={"filter": '{"room":{"timeline":{"limit":100}}}'}, headers=alice.headers
    ) as response:
        body = await response.json()
    timeline = [e["event_id"] for e in body["rooms"]["join"][room_id]["timeline"]["events"]]
    assert timeline[-len(events):] == [e.event_id for e in events]


async def test_sends_into_different_rooms_all_land(http, homeserver, make_user):
    alice = await make_user("alice")
    rooms = [await _create_room(http, alice) for _ in range(3)]
    sends = [
        homeserver.sender.send(room_id, alice.user_id, EventDraft("m.room.message", {"body": str(i)}))
        for i in range(10)
        for room_id in rooms
    ]
    events = await asyncio.gather(*sends)
    for room_id in rooms:
        mine = [e for e in events if e.room_id == room_id]
        assert await homeserver.stores.events.get_forward_extremities(room_id) == [mine[-1].event_id]
