"""GET /sync over HTTP: initial and incremental syncs, long-polling, sections and filters."""

from __future__ import annotations

import asyncio
import json
import time

from veche.services.rooms.sending import EventDraft


async def create_room(http, user, **body):
    async with http.post("/_matrix/client/v3/createRoom", json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


async def send(http, user, room_id, body, txn):
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}", json=body, headers=user.headers
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def sync(http, user, **params):
    query = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in params.items()}
    async with http.get("/_matrix/client/v3/sync", params=query, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_initial_sync_shows_joined_room_state_and_timeline(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="Tea")
    event_id = await send(http, alice, room_id, {"msgtype": "m.text", "body": "hi"}, "t1")
    body = await sync(http, alice)
    room = body["rooms"]["join"][room_id]
    timeline = room["timeline"]["events"]
    assert timeline[-1]["event_id"] == event_id
    assert timeline[-1]["unsigned"]["transaction_id"] == "t1"
    assert "room_id" not in timeline[-1]
    state_types = {e["type"] for e in room["state"]["events"]} | {e["type"] for e in timeline}
    assert {"m.room.create", "m.room.member", "m.room.power_levels", "m.room.name"} <= state_types
    assert room["summary"]["m.joined_member_count"] == 1
    assert body["next_batch"]


async def test_incremental_sync_long_polls_until_a_message(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    since = (await sync(http, alice))["next_batch"]
    waiting = asyncio.create_task(sync(http, alice, since=since, timeout=10000))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    event_id = await send(http, alice, room_id, {"msgtype": "m.text", "body": "wake up"}, "t2")
    body = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 2
    events = body["rooms"]["join"][room_id]["timeline"]["events"]
    assert [e["event_id"] for e in events] == [event_id]
    assert body["rooms"]["join"][room_id]["timeline"]["limited"] is False
    # Nothing new since: an immediate, empty answer.
    again = await sync(http, alice, since=body["next_batch"], timeout=0)
    assert not again.get("rooms", {}).get("join")
    # Required in every response, quiet ones included (end_to_end_encryption.md).
    assert again["device_unused_fallback_key_types"] == []
    assert again["device_one_time_keys_count"] == {"signed_curve25519": 0}


async def test_limited_timeline_and_state_delta(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    since = (await sync(http, alice))["next_batch"]
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/state/m.room.topic", json={"topic": "gap"}, headers=alice.headers
    ) as response:
        assert response.status == 200
    for i in range(5):
        await send(http, alice, room_id, {"msgtype": "m.text", "body": str(i)}, f"m{i}")
    body = await sync(http, alice, since=since, filter={"room": {"timeline": {"limit": 2}}})
    room = body["rooms"]["join"][room_id]
    assert room["timeline"]["limited"] is True
    assert [e["content"]["body"] for e in room["timeline"]["events"]] == ["3", "4"]
    assert [e["type"] for e in room["state"]["events"]] == ["m.room.topic"]
    assert room["timeline"]["prev_batch"]


async def test_invite_and_leave_sections(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, name="Club")
    bob_since = (await sync(http, bob))["next_batch"]
    await homeserver.sender.send(room_id, alice.user_id, EventDraft("m.room.member", {"membership": "invite"}, bob.user_id))
    body = await sync(http, bob, since=bob_since, timeout=5000)
    invite = body["rooms"]["invite"][room_id]["invite_state"]["events"]
    assert {"type": "m.room.name", "state_key": "", "content": {"name": "Club"}, "sender": alice.user_id} in invite
    assert any(e["type"] == "m.room.member" and e["state_key"] == bob.user_id for e in invite)
    await homeserver.sender.send(room_id, bob.user_id, EventDraft("m.room.member", {"membership": "join"}, bob.user_id))
    body = await sync(http, bob, since=body["next_batch"], timeout=5000)
    assert room_id in body["rooms"]["join"]
    await homeserver.sender.send(
        room_id, alice.user_id, EventDraft("m.room.member", {"membership": "leave", "reason": "bye"}, bob.user_id)
    )
    body = await sync(http, bob, since=body["next_batch"], timeout=5000)
    left = body["rooms"]["leave"][room_id]
    assert left["timeline"]["events"][-1]["content"]["membership"] == "leave"


async def test_lazy_loading_members(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice, preset="public_chat")
    for user in (bob, carol):
        await homeserver.sender.send(room_id, user.user_id, EventDraft("m.room.member", {"membership": "join"}, user.user_id))
    await send(http, bob, room_id, {"msgtype": "m.text", "body": "from bob"}, "b1")
    body = await sync(http, alice, filter={"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 1}}})
    room = body["rooms"]["join"][room_id]
    members = {e["state_key"] for e in room["state"]["events"] if e["type"] == "m.room.member"}
    assert bob.user_id in members and alice.user_id in members
    assert room["summary"]["m.joined_member_count"] == 3


async def test_ephemeral_and_account_data(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    since = (await sync(http, alice))["next_batch"]
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/typing/{alice.user_id}", json={"typing": True, "timeout": 10000},
        headers=alice.headers,
    ) as response:
        assert response.status == 200
    async with http.put(
        f"/_matrix/client/v3/user/{alice.user_id}/account_data/org.example.pref", json={"x": 1}, headers=alice.headers
    ) as response:
        assert response.status == 200
    body = await sync(http, alice, since=since, timeout=0)
    ephemeral = body["rooms"]["join"][room_id]["ephemeral"]["events"]
    assert {"type": "m.typing", "content": {"user_ids": [alice.user_id]}} in ephemeral
    assert {"type": "org.example.pref", "content": {"x": 1}} in body["account_data"]["events"]


async def test_bad_parameters(http, make_user):
    alice = await make_user("alice")
    for params, errcode in [
        ({"since": "bogus"}, "M_INVALID_PARAM"),
        ({"timeout": "soon"}, "M_INVALID_PARAM"),
        ({"filter": "{not json"}, "M_NOT_JSON"),
        ({"filter": '{"room": []}'}, "M_BAD_JSON"),
        ({"set_presence": "dancing"}, "M_INVALID_PARAM"),
    ]:
        async with http.get("/_matrix/client/v3/sync", params=params, headers=alice.headers) as response:
            assert response.status in (400, 404)
            assert (await response.json())["errcode"] == errcode
    async with http.get("/_matrix/client/v3/sync", params={"filter": "12345"}, headers=alice.headers) as response:
        assert response.status == 404


async def test_forgotten_room_leaves_the_leave_section(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    async with http.post(f"/_matrix/client/v3/rooms/{room_id}/leave", json={}, headers=alice.headers) as response:
        assert response.status == 200
    include_leave = {"room": {"include_leave": True}}
    body = await sync(http, alice, filter=include_leave)
    assert room_id in body["rooms"]["leave"]
    async with http.post(f"/_matrix/client/v3/rooms/{room_id}/forget", json={}, headers=alice.headers) as response:
        assert response.status == 200
    body = await sync(http, alice, filter=include_leave)
    assert room_id not in body["rooms"]["leave"]


async def test_ignored_users_messages_and_invites_are_dropped(http, homeserver, make_user):
    alice = await make_user("alice")
    mallory = await make_user("mallory")
    room_id = await create_room(http, alice, preset="public_chat")
    await homeserver.sender.send(room_id, mallory.user_id, EventDraft("m.room.member", {"membership": "join"}, mallory.user_id))
    async with http.put(
        f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.ignored_user_list",
        json={"ignored_users": {mallory.user_id: {}}}, headers=alice.headers,
    ) as response:
        assert response.status == 200
    await send(http, mallory, room_id, {"msgtype": "m.text", "body": "spam"}, "s1")
    await send(http, alice, room_id, {"msgtype": "m.text", "body": "hello"}, "h1")
    other = await create_room(http, mallory)
    await homeserver.sender.send(other, mallory.user_id, EventDraft("m.room.member", {"membership": "invite"}, alice.user_id))
    body = await sync(http, alice)
    timeline = body["rooms"]["join"][room_id]["timeline"]["events"]
    bodies = [e["content"].get("body") for e in timeline if e["type"] == "m.room.message"]
    assert bodies == ["hello"]
    # Mallory's state events (their join) still arrive.
    assert any(e["type"] == "m.room.member" and e["state_key"] == mallory.user_id for e in timeline)
    assert other not in body["rooms"]["invite"]
