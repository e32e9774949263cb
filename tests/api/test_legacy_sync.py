"""The pre-/sync reading endpoints the spec still lists: /initialSync, /events,
/events/{eventId} and /rooms/{roomId}/initialSync (with peeking into world_readable rooms)."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.api.reading_helpers import create_room, put_state, send

V3 = "/_matrix/client/v3"


async def get(http: aiohttp.ClientSession, path: str, user, **params) -> tuple[int, dict]:
    async with http.get(path, headers=user.headers, params=params) as response:
        return response.status, await response.json()


async def test_event_by_id(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat")
    event_id = await send(http, alice, room_id, "hello")
    status, body = await get(http, f"{V3}/events/{event_id}", alice)
    assert status == 200 and body["event_id"] == event_id and body["content"]["body"] == "hello"
    # Hidden and unknown look the same.
    for user, eid in ((bob, event_id), (alice, "$nope")):
        status, body = await get(http, f"{V3}/events/{eid}", user)
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_room_initial_sync(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat")
    ids = [await send(http, alice, room_id, f"m{i}") for i in range(3)]
    status, body = await get(http, f"{V3}/rooms/{room_id}/initialSync", alice, limit="2")
    assert status == 200
    assert body["room_id"] == room_id and body["membership"] == "join" and body["visibility"] == "private"
    assert [e["event_id"] for e in body["messages"]["chunk"]] == ids[1:]
    assert {"start", "end"} <= body["messages"].keys()
    assert any(e["type"] == "m.room.create" for e in body["state"])
    status, body = await get(http, f"{V3}/rooms/{room_id}/initialSync", bob)
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")


async def test_initial_sync_lists_rooms_and_invites(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    joined = await create_room(http, bob)
    invited = await create_room(http, alice, preset="private_chat", invite=[bob.user_id])
    status, body = await get(http, f"{V3}/initialSync", bob)
    assert status == 200 and isinstance(body["end"], str)
    rooms = {r["room_id"]: r for r in body["rooms"]}
    assert rooms[joined]["membership"] == "join" and rooms[joined]["state"]
    assert rooms[invited]["membership"] == "invite"
    assert rooms[invited]["invite"]["content"]["membership"] == "invite"


async def test_events_long_polls_from_a_token(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    status, body = await get(http, f"{V3}/initialSync", alice)
    token = body["end"]
    status, body = await get(http, f"{V3}/events", alice, **{"from": token, "timeout": "0"})
    assert status == 200 and body["chunk"] == []
    poll = asyncio.create_task(get(http, f"{V3}/events", alice, **{"from": token, "timeout": "10000"}))
    await asyncio.sleep(0.2)
    event_id = await send(http, alice, room_id, "wake up")
    status, body = await asyncio.wait_for(poll, 5)
    assert status == 200 and [e["event_id"] for e in body["chunk"]] == [event_id]
    assert body["start"] == token and body["end"] != token
    status, body = await get(http, f"{V3}/events", alice, **{"from": body["end"], "timeout": "0"})
    assert body["chunk"] == []
    status, body = await get(http, f"{V3}/events", alice, **{"from": "junk"})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")


async def test_peeking_a_world_readable_room(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "world_readable"})
    status, body = await get(http, f"{V3}/rooms/{room_id}/initialSync", bob)
    assert status == 200 and "membership" not in body
    token = body["messages"]["end"]
    event_id = await send(http, alice, room_id, "for lurkers")
    status, body = await get(http, f"{V3}/events", bob, room_id=room_id, **{"from": token, "timeout": "0"})
    assert status == 200 and [e["event_id"] for e in body["chunk"]] == [event_id]
    private = await create_room(http, alice, preset="private_chat")
    status, body = await get(http, f"{V3}/events", bob, room_id=private, timeout="0")
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
