"""GET /event, /context, /state, /members, /joined_members and /timestamp_to_event."""

from __future__ import annotations

import json

from tests.api.reading_helpers import CLIENT, create_room, get_json, join, put_state, send, set_membership
from veche.services.streams import StreamToken


def room_path(room_id, tail, version="v3"):
    return f"{CLIENT}/{version}/rooms/{room_id}/{tail}"


async def test_get_event(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    secret = await send(http, alice, room_id, "before bob")
    await join(homeserver, room_id, bob.user_id)
    public = await send(http, alice, room_id, "with bob")

    status, event = await get_json(http, room_path(room_id, f"event/{public}"), bob)
    assert status == 200
    assert event["content"]["body"] == "with bob" and event["room_id"] == room_id
    assert event["unsigned"]["membership"] == "join"
    for unknown in (secret, "$nonexistent"):
        status, error = await get_json(http, room_path(room_id, f"event/{unknown}"), bob)
        assert status == 404 and error["errcode"] == "M_NOT_FOUND"
    other_room = await create_room(http, alice)
    status, _ = await get_json(http, room_path(other_room, f"event/{public}"), alice)
    assert status == 404


async def test_context(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="Ctx")
    ids = [await send(http, alice, room_id, f"m{i}") for i in range(10)]
    status, body = await get_json(http, room_path(room_id, f"context/{ids[5]}"), alice, {"limit": "4"})
    assert status == 200, body
    assert body["event"]["event_id"] == ids[5]
    assert [e["content"]["body"] for e in body["events_before"]] == ["m4", "m3"]
    assert [e["content"]["body"] for e in body["events_after"]] == ["m6", "m7"]
    state = {(e["type"], e["state_key"]) for e in body["state"]}
    assert ("m.room.create", "") in state and ("m.room.name", "") in state

    # The tokens continue with /messages.
    status, before = await get_json(
        http, room_path(room_id, "messages"), alice, {"dir": "b", "from": body["start"], "limit": "2"}
    )
    assert [e["content"]["body"] for e in before["chunk"]] == ["m2", "m1"]
    status, after = await get_json(
        http, room_path(room_id, "messages"), alice, {"dir": "f", "from": body["end"], "limit": "5"}
    )
    assert [e["content"]["body"] for e in after["chunk"]] == ["m8", "m9"]

    filtered = {"types": ["m.room.message"], "lazy_load_members": True}
    status, body = await get_json(
        http, room_path(room_id, f"context/{ids[1]}"), alice, {"limit": "6", "filter": json.dumps(filtered)}
    )
    assert [e["content"]["body"] for e in body["events_before"]] == ["m0"]
    assert [e["content"]["body"] for e in body["events_after"]] == ["m2", "m3", "m4"]
    members = [e for e in body["state"] if e["type"] == "m.room.member"]
    assert [e["state_key"] for e in members] == [alice.user_id]

    status, error = await get_json(http, room_path(room_id, "context/$missing"), alice)
    assert status == 404


async def test_state_for_members_leavers_and_strangers(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice, name="First")
    await join(homeserver, room_id, bob.user_id)

    status, state = await get_json(http, room_path(room_id, "state"), bob)
    assert status == 200
    assert {(e["type"], e["state_key"]) for e in state} >= {("m.room.create", ""), ("m.room.name", "")}
    status, content = await get_json(http, room_path(room_id, "state/m.room.name"), bob)
    assert (status, content) == (200, {"name": "First"})
    status, content = await get_json(http, room_path(room_id, "state/m.room.name/"), bob)
    assert (status, content) == (200, {"name": "First"})
    status, event = await get_json(http, room_path(room_id, "state/m.room.name/"), bob, {"format": "event"})
    assert event["type"] == "m.room.name" and event["content"] == {"name": "First"} and "event_id" in event
    status, content = await get_json(http, room_path(room_id, f"state/m.room.member/{bob.user_id}"), bob)
    assert content["membership"] == "join"
    status, error = await get_json(http, room_path(room_id, "state/m.room.topic"), bob)
    assert status == 404 and error["errcode"] == "M_NOT_FOUND"

    await set_membership(homeserver, room_id, bob.user_id, bob.user_id, "leave")
    await put_state(http, alice, room_id, "m.room.name", {"name": "Second"})
    status, content = await get_json(http, room_path(room_id, "state/m.room.name"), bob)
    assert (status, content) == (200, {"name": "First"})
    status, content = await get_json(http, room_path(room_id, "state/m.room.name"), alice)
    assert content == {"name": "Second"}

    status, error = await get_json(http, room_path(room_id, "state"), carol)
    assert status == 403 and error["errcode"] == "M_FORBIDDEN"
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "world_readable"})
    status, content = await get_json(http, room_path(room_id, "state/m.room.name"), carol)
    assert (status, content) == (200, {"name": "Second"})


async def test_members_and_joined_members(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    await put_state(
        http, alice, room_id, "m.room.member",
        {"membership": "join", "displayname": "Alice", "avatar_url": "mxc://veche.test/a"},
        state_key=alice.user_id,
    )
    before_carol = StreamToken(events=homeserver.stores.events.current_stream_token).serialize()
    await set_membership(homeserver, room_id, alice.user_id, carol.user_id, "invite")

    status, body = await get_json(http, room_path(room_id, "members"), alice)
    assert status == 200
    memberships = {e["state_key"]: e["content"]["membership"] for e in body["chunk"]}
    assert memberships == {alice.user_id: "join", bob.user_id: "join", carol.user_id: "invite"}
    status, body = await get_json(http, room_path(room_id, "members"), alice, {"membership": "invite"})
    assert [e["state_key"] for e in body["chunk"]] == [carol.user_id]
    status, body = await get_json(http, room_path(room_id, "members"), alice, {"not_membership": "invite"})
    assert {e["state_key"] for e in body["chunk"]} == {alice.user_id, bob.user_id}
    status, _ = await get_json(http, room_path(room_id, "members"), alice, {"membership": "bogus"})
    assert status == 400

    # `at` a point before Carol's invite.
    status, messages = await get_json(http, room_path(room_id, "messages"), alice, {"dir": "b", "limit": "1"})
    at = messages["end"]
    status, body = await get_json(http, room_path(room_id, "members"), alice, {"at": at})
    assert status == 200
    assert carol.user_id not in {e["state_key"] for e in body["chunk"]}
    status, body = await get_json(http, room_path(room_id, "members"), alice, {"at": before_carol})
    assert carol.user_id not in {e["state_key"] for e in body["chunk"]}

    status, body = await get_json(http, room_path(room_id, "joined_members"), bob)
    assert status == 200
    assert body["joined"] == {
        alice.user_id: {"display_name": "Alice", "avatar_url": "mxc://veche.test/a"},
        bob.user_id: {},
    }
    stranger = await make_user("dave")
    status, error = await get_json(http, room_path(room_id, "joined_members"), stranger)
    assert status == 403


async def test_timestamp_to_event(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    first = await send(http, alice, room_id, "one")
    second = await send(http, alice, room_id, "two")
    events = await homeserver.stores.events.get_events([first, second])
    ts_first, ts_second = events[first].origin_server_ts, events[second].origin_server_ts
    path = room_path(room_id, "timestamp_to_event", "v1")

    status, body = await get_json(http, path, alice, {"ts": str(ts_second), "dir": "b"})
    assert status == 200 and body == {"event_id": second, "origin_server_ts": ts_second}
    status, body = await get_json(http, path, alice, {"ts": str(ts_first), "dir": "f"})
    assert body["origin_server_ts"] >= ts_first
    status, body = await get_json(http, path, alice, {"ts": str(ts_second + 10**6), "dir": "f"})
    assert status == 404 and body["errcode"] == "M_NOT_FOUND"
    status, body = await get_json(http, path, alice, {"ts": "0", "dir": "b"})
    assert status == 404
    status, body = await get_json(http, path, alice, {"ts": "soon", "dir": "b"})
    assert status == 400
    for huge in (10**23, -(10**23)):  # past the 64 bits SQL binds
        status, body = await get_json(http, path, alice, {"ts": str(huge), "dir": "f"})
        assert status == 400 and body["errcode"] == "M_INVALID_PARAM"
    status, body = await get_json(http, path, alice, {"ts": "1"})
    assert status == 400
