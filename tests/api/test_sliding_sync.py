"""Simplified sliding sync (MSC4186) over HTTP: lists, ranges and activity order, required
state, incremental deltas, invites, subscriptions, extensions, M_UNKNOWN_POS, long-polling
and bad input."""

from __future__ import annotations

import asyncio
import time

from tests.api.reading_helpers import put_state
from tests.api.test_notifications import record_statements

PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
ALL_STATE = [["*", "*"]]


async def create_room(http, user, **body):
    async with http.post("/_matrix/client/v3/createRoom", json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


async def send(http, user, room_id, body, txn, event_type="m.room.message"):
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/send/{event_type}/{txn}", json=body, headers=user.headers
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def post(http, user, path, body):
    async with http.post(path, json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def sliding(http, user, body, *, pos=None, timeout=None, status=200):
    params = {}
    if pos is not None:
        params["pos"] = pos
    if timeout is not None:
        params["timeout"] = str(timeout)
    async with http.post(PATH, json=body, params=params, headers=user.headers) as response:
        assert response.status == status, await response.text()
        return await response.json()


def room_list(range_end=19, timeline_limit=1, required_state=None, **filters):
    config = {"ranges": [[0, range_end]], "timeline_limit": timeline_limit, "required_state": required_state or []}
    if filters:
        config["filters"] = filters
    return config


async def test_list_sorted_by_activity_with_ranges_and_count(http, make_user):
    alice = await make_user("alice")
    rooms = [await create_room(http, alice, name=f"R{i}") for i in range(3)]
    # Activity: room 0 most recent, then room 2, then room 1.
    await send(http, alice, rooms[2], {"msgtype": "m.text", "body": "b"}, "b")
    await send(http, alice, rooms[0], {"msgtype": "m.text", "body": "a"}, "a")
    # A state event is no activity for the order.
    await put_state(http, alice, rooms[1], "m.room.topic", {"topic": "quiet"})
    body = await sliding(http, alice, {"lists": {"all": room_list(range_end=1)}}, timeout=0)
    assert body["lists"]["all"]["count"] == 3
    assert set(body["rooms"]) == {rooms[0], rooms[2]}
    assert body["rooms"][rooms[0]]["bump_stamp"] > body["rooms"][rooms[2]]["bump_stamp"]
    room = body["rooms"][rooms[0]]
    assert room["initial"] is True
    assert room["name"] == "R0"
    assert room["joined_count"] == 1 and room["invited_count"] == 0
    assert room["membership"] == "join"
    assert [e["content"]["body"] for e in room["timeline"]] == ["a"]
    assert room["limited"] is True and room["prev_batch"]
    assert room["notification_count"] == 0 and room["highlight_count"] == 0
    assert room["lists"] == ["all"]
    # Growing the range sends only the room not sent yet.
    more = await sliding(http, alice, {"lists": {"all": room_list(range_end=9)}}, pos=body["pos"], timeout=0)
    assert set(more["rooms"]) == {rooms[1]}
    # The MSC's current dialect: `range` and the object form of required_state.
    fresh = await sliding(
        http, alice,
        {"conn_id": "other", "lists": {"all": {"range": [0, 0], "timeline_limit": 0, "required_state": {}}}},
    )
    assert list(fresh["rooms"]) == [rooms[0]]
    assert "txn_id" not in fresh
    echoed = await sliding(http, alice, {"conn_id": "other", "txn_id": "t-1"}, pos=fresh["pos"], timeout=0)
    assert echoed["txn_id"] == "t-1"


async def test_required_state_forms(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, name="Forms", preset="public_chat")
    await post(http, bob, f"/_matrix/client/v3/join/{room_id}", {})
    await send(http, bob, room_id, {"msgtype": "m.text", "body": "hi"}, "b1")

    async def state_keys(required_state, conn_id):
        body = await sliding(
            http, alice, {"conn_id": conn_id, "lists": {"l": room_list(timeline_limit=1, required_state=required_state)}}
        )
        return {(e["type"], e["state_key"]) for e in body["rooms"][room_id].get("required_state", [])}

    everything = await state_keys(ALL_STATE, "all")
    assert {("m.room.create", ""), ("m.room.name", ""), ("m.room.member", alice.user_id),
            ("m.room.member", bob.user_id)} <= everything
    assert await state_keys([["m.room.name", ""]], "one") == {("m.room.name", "")}
    assert await state_keys([["m.room.member", "$ME"]], "me") == {("m.room.member", alice.user_id)}
    # $LAZY: the members of the timeline's senders only.
    assert await state_keys([["m.room.member", "$LAZY"]], "lazy") == {("m.room.member", bob.user_id)}
    members = await state_keys([["m.room.member", "*"]], "members")
    assert members == {("m.room.member", alice.user_id), ("m.room.member", bob.user_id)}
    # The object form with include/exclude.
    body = {"include": [{}], "exclude": [{"type": "m.room.member"}]}
    excluded = await state_keys(body, "object")
    assert ("m.room.create", "") in excluded and not any(t == "m.room.member" for t, _ in excluded)


async def test_incremental_sends_only_changes(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="Old")
    other = await create_room(http, alice, name="Other")
    config = {"lists": {"all": room_list(timeline_limit=5, required_state=[["m.room.name", ""], ["m.room.topic", ""]])}}
    first = await sliding(http, alice, config)
    assert {room_id, other} <= set(first["rooms"])
    # Nothing new: an empty answer at once with timeout 0.
    quiet = await sliding(http, alice, config, pos=first["pos"], timeout=0)
    assert quiet["rooms"] == {}
    event_id = await put_state(http, alice, room_id, "m.room.name", {"name": "New"})
    delta = await sliding(http, alice, config, pos=quiet["pos"], timeout=0)
    assert list(delta["rooms"]) == [room_id]
    room = delta["rooms"][room_id]
    assert "initial" not in room
    assert room["name"] == "New"
    assert [e["event_id"] for e in room["timeline"]] == [event_id]
    assert room["num_live"] == 1 and room["limited"] is False
    # Only the state that changed, not the whole required state again.
    assert [(e["type"], e["event_id"]) for e in room["required_state"]] == [("m.room.name", event_id)]
    assert "joined_count" not in room  # unchanged
    # Retrying with the same pos answers from the same starting point.
    again = await sliding(http, alice, config, pos=quiet["pos"], timeout=0)
    assert list(again["rooms"]) == [room_id]
    # A widened required state sends what is now wanted, without waiting for news.
    wider = {"lists": {"all": room_list(timeline_limit=5, required_state=[["m.room.name", ""], ["m.room.create", ""]])}}
    widened = await sliding(http, alice, wider, pos=delta["pos"], timeout=0)
    assert {(e["type"]) for e in widened["rooms"][room_id]["required_state"]} == {"m.room.create"}
    assert "timeline" not in widened["rooms"][room_id]


async def test_timeline_limit_increase_expands_timeline(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    for i in range(4):
        await send(http, alice, room_id, {"msgtype": "m.text", "body": str(i)}, f"t{i}")
    first = await sliding(http, alice, {"lists": {"all": room_list(timeline_limit=1)}})
    assert [e["content"]["body"] for e in first["rooms"][room_id]["timeline"]] == ["3"]
    bigger = await sliding(
        http, alice,
        {"lists": {"all": room_list(timeline_limit=1)}, "room_subscriptions": {room_id: {"timeline_limit": 3, "required_state": []}}},
        pos=first["pos"], timeout=0,
    )
    room = bigger["rooms"][room_id]
    assert room["expanded_timeline"] is True
    assert [e["content"]["body"] for e in room["timeline"]] == ["1", "2", "3"]
    assert room["num_live"] == 0


async def test_filters_invites_and_dms(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    plain = await create_room(http, alice, name="Plain")
    space = await create_room(http, alice, name="Space", creation_content={"type": "m.space"})
    encrypted = await create_room(
        http, alice, initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
    )
    dm = await create_room(http, bob, invite=[alice.user_id], is_direct=True)
    async with http.put(
        f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.direct", json={bob.user_id: [dm]}, headers=alice.headers
    ) as response:
        assert response.status == 200
    await put_state(http, alice, space, "m.space.child", {"via": ["veche.test"]}, state_key=plain)
    body = await sliding(
        http, alice,
        {
            "lists": {
                "invites": room_list(is_invite=True),
                "no_spaces": room_list(not_room_types=["m.space"], is_invite=False),
                "spaces": room_list(room_types=["m.space"]),
                "encrypted": room_list(is_encrypted=True),
                "dms": room_list(is_dm=True),
                "in_space": room_list(spaces=[space]),
            }
        },
    )
    counts = {name: result["count"] for name, result in body["lists"].items()}
    assert counts == {"invites": 1, "no_spaces": 2, "spaces": 1, "encrypted": 1, "dms": 1, "in_space": 1}
    invite = body["rooms"][dm]
    assert invite["membership"] == "invite" and invite["is_dm"] is True
    assert "timeline" not in invite and "required_state" not in invite
    member = [e for e in invite["invite_state"] if e["type"] == "m.room.member"]
    assert member[0]["state_key"] == alice.user_id and member[0]["content"]["membership"] == "invite"
    assert invite["stripped_state"] == invite["invite_state"]
    # Joining turns the invite into a full room on the same connection.
    await post(http, alice, f"/_matrix/client/v3/join/{dm}", {})
    after = await sliding(http, alice, {"lists": {"all": room_list(required_state=ALL_STATE)}}, pos=body["pos"], timeout=0)
    joined = after["rooms"][dm]
    assert joined["initial"] is True and joined["membership"] == "join"
    assert joined["timeline"] and joined["required_state"]


async def test_heroes_for_unnamed_rooms(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    async with http.put(
        f"/_matrix/client/v3/profile/{bob.user_id}/displayname", json={"displayname": "Bobby"}, headers=bob.headers
    ) as response:
        assert response.status == 200
    room_id = await create_room(http, alice, preset="public_chat")
    await post(http, bob, f"/_matrix/client/v3/join/{room_id}", {})
    body = await sliding(http, alice, {"lists": {"all": room_list()}})
    room = body["rooms"][room_id]
    assert "name" not in room
    assert room["heroes"] == [{"user_id": bob.user_id, "displayname": "Bobby"}]
    assert room["joined_count"] == 2
    # A message changes no count; a join does.
    await send(http, bob, room_id, {"msgtype": "m.text", "body": "hi"}, "h1")
    quiet = await sliding(http, alice, {"lists": {"all": room_list()}}, pos=body["pos"], timeout=0)
    assert "joined_count" not in quiet["rooms"][room_id] and "heroes" not in quiet["rooms"][room_id]
    carol = await make_user("carol")
    await post(http, carol, f"/_matrix/client/v3/join/{room_id}", {})
    joined = await sliding(http, alice, {"lists": {"all": room_list()}}, pos=quiet["pos"], timeout=0)
    assert joined["rooms"][room_id]["joined_count"] == 3
    assert [h["user_id"] for h in joined["rooms"][room_id]["heroes"]] == [bob.user_id, carol.user_id]


async def test_subscriptions_and_kicked_rooms(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    mine = await create_room(http, alice, name="Mine")
    secret = await create_room(http, bob, name="Secret")
    body = await sliding(
        http, alice,
        {"room_subscriptions": {mine: {"timeline_limit": 2, "required_state": ALL_STATE}, secret: {"timeline_limit": 2}}},
    )
    # A room the user was never in is ignored, not an error.
    assert list(body["rooms"]) == [mine]
    assert "lists" not in body or body["lists"] == {}
    shared = await create_room(http, bob, name="Shared", preset="public_chat")
    await post(http, alice, f"/_matrix/client/v3/join/{shared}", {})
    await post(http, bob, f"/_matrix/client/v3/rooms/{shared}/kick", {"user_id": alice.user_id})
    await send(http, bob, shared, {"msgtype": "m.text", "body": "after the kick"}, "k1")
    kicked = await sliding(http, alice, {"lists": {"all": room_list(timeline_limit=5)}})
    room = kicked["rooms"][shared]
    assert room["membership"] == "leave"
    bodies = [e["content"].get("body") for e in room["timeline"]]
    assert "after the kick" not in bodies
    assert room["timeline"][-1]["type"] == "m.room.member"


async def test_unknown_pos_and_bad_input(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    body = await sliding(http, alice, {"lists": {"all": room_list()}})
    error = await sliding(http, alice, {}, pos="nonsense_1", status=400)
    assert error["errcode"] == "M_UNKNOWN_POS"
    # A pos is tied to its user, device and connection.
    error = await sliding(http, bob, {}, pos=body["pos"], status=400)
    assert error["errcode"] == "M_UNKNOWN_POS"
    error = await sliding(http, alice, {"conn_id": "elsewhere"}, pos=body["pos"], status=400)
    assert error["errcode"] == "M_UNKNOWN_POS"
    # Starting over drops the old positions.
    await sliding(http, alice, {"lists": {"all": room_list()}})
    error = await sliding(http, alice, {}, pos=body["pos"], status=400)
    assert error["errcode"] == "M_UNKNOWN_POS"
    for bad, errcode in [
        ({"lists": {"l": {"ranges": [[5, 1]], "timeline_limit": 1}}}, "M_INVALID_PARAM"),
        ({"lists": {"l": {"ranges": "all", "timeline_limit": 1}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"timeline_limit": "ten"}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"timeline_limit": 1, "required_state": [["m.room.name"]]}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"timeline_limit": 1, "filters": {"is_dm": "yes"}}}}, "M_BAD_JSON"),
        ({"lists": {str(i): {"timeline_limit": 1} for i in range(101)}}, "M_INVALID_PARAM"),
        ({"room_subscriptions": {f"!r{i}:x": {"timeline_limit": 1} for i in range(101)}}, "M_INVALID_PARAM"),
        ({"room_subscriptions": []}, "M_BAD_JSON"),
        ({"conn_id": 5}, "M_BAD_JSON"),
        ({"extensions": {"to_device": {"enabled": True, "since": "abc"}}}, "M_INVALID_PARAM"),
        # "²" passes str.isdigit() but not int(); 10**23 is past what SQL binds.
        ({"extensions": {"to_device": {"enabled": True, "since": "²"}}}, "M_INVALID_PARAM"),
        ({"extensions": {"to_device": {"enabled": True, "since": str(10**23)}}}, "M_INVALID_PARAM"),
    ]:
        error = await sliding(http, alice, bad, status=400)
        assert error["errcode"] == errcode, bad
    for timeout in ("soon", "²"):
        async with http.post(PATH, params={"timeout": timeout}, json={}, headers=alice.headers) as response:
            assert response.status == 400
            assert (await response.json())["errcode"] == "M_INVALID_PARAM"
    fresh = await sliding(http, alice, {"lists": {"all": room_list()}})
    generation = fresh["pos"].partition("_")[0]
    error = await sliding(http, alice, {}, pos=f"{generation}_²", status=400)
    assert error["errcode"] == "M_UNKNOWN_POS"
    async with http.post(PATH, data=b"[1]", headers=alice.headers) as response:
        assert response.status == 400
    async with http.post(PATH, json={}) as response:
        assert response.status == 401


async def test_long_poll_wakes_on_a_message(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    config = {"lists": {"all": room_list()}}
    first = await sliding(http, alice, config)
    waiting = asyncio.create_task(sliding(http, alice, config, pos=first["pos"], timeout=10000))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    started = time.monotonic()
    event_id = await send(http, alice, room_id, {"msgtype": "m.text", "body": "wake"}, "w1")
    body = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 2
    assert [e["event_id"] for e in body["rooms"][room_id]["timeline"]] == [event_id]
    # With nothing new, the request answers at its timeout.
    started = time.monotonic()
    empty = await sliding(http, alice, config, pos=body["pos"], timeout=300)
    assert empty["rooms"] == {} and time.monotonic() - started >= 0.25


async def test_to_device_and_e2ee_extensions(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    extensions = {"to_device": {"enabled": True}, "e2ee": {"enabled": True}}
    first = await sliding(http, alice, {"extensions": extensions})
    e2ee = first["extensions"]["e2ee"]
    assert e2ee["device_one_time_keys_count"] == {"signed_curve25519": 0}
    assert e2ee["device_unused_fallback_key_types"] == []
    since = first["extensions"]["to_device"]["next_batch"]
    async with http.put(
        "/_matrix/client/v3/sendToDevice/m.test/txn1",
        json={"messages": {alice.user_id: {alice.device_id: {"n": 1}}}},
        headers=bob.headers,
    ) as response:
        assert response.status == 200
    got = await sliding(
        http, alice, {"extensions": {**extensions, "to_device": {"enabled": True, "since": since}}},
        pos=first["pos"], timeout=5000,
    )
    messages = got["extensions"]["to_device"]["events"]
    assert messages == [{"sender": bob.user_id, "type": "m.test", "content": {"n": 1}}]
    next_batch = got["extensions"]["to_device"]["next_batch"]
    # Not acknowledged yet: the same `since` gets the message again.
    again = await sliding(http, alice, {"extensions": {"to_device": {"enabled": True, "since": since}}}, pos=got["pos"])
    assert again["extensions"]["to_device"]["events"] == messages
    # Acknowledged by the next `since`: gone.
    acked = await sliding(
        http, alice, {"extensions": {"to_device": {"enabled": True, "since": next_batch}}}, pos=again["pos"], timeout=0
    )
    assert "events" not in acked["extensions"]["to_device"]
    # Device list changes of users sharing a room.
    room_id = await create_room(http, bob, preset="public_chat")
    await post(http, alice, f"/_matrix/client/v3/join/{room_id}", {})
    base = await sliding(http, alice, {"extensions": extensions}, pos=acked["pos"], timeout=0)
    # Renaming a device is a device-list change.
    async with http.put(
        f"/_matrix/client/v3/devices/{bob.device_id}", json={"display_name": "phone"}, headers=bob.headers
    ) as response:
        assert response.status == 200
    changed = await sliding(http, alice, {"extensions": extensions}, pos=base["pos"], timeout=5000)
    assert bob.user_id in changed["extensions"]["e2ee"]["device_lists"]["changed"]


async def test_account_data_receipts_and_typing_extensions(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    await post(http, bob, f"/_matrix/client/v3/join/{room_id}", {})
    event_id = await send(http, bob, room_id, {"msgtype": "m.text", "body": "read me"}, "r1")
    async with http.put(
        f"/_matrix/client/v3/user/{alice.user_id}/account_data/org.example.global", json={"g": 1}, headers=alice.headers
    ) as response:
        assert response.status == 200
    async with http.put(
        f"/_matrix/client/v3/user/{alice.user_id}/rooms/{room_id}/account_data/org.example.room",
        json={"r": 1}, headers=alice.headers,
    ) as response:
        assert response.status == 200
    await post(http, bob, f"/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}", {})
    extensions = {
        "account_data": {"enabled": True},
        "receipts": {"enabled": True, "rooms": ["*"]},
        "typing": {"enabled": True},
    }
    config = {"lists": {"all": room_list()}, "extensions": extensions}
    first = await sliding(http, alice, config)
    found = first["extensions"]
    assert {"type": "org.example.global", "content": {"g": 1}} in found["account_data"]["global"]
    assert found["account_data"]["rooms"][room_id] == [{"type": "org.example.room", "content": {"r": 1}}]
    receipt = found["receipts"]["rooms"][room_id]
    assert receipt["type"] == "m.receipt"
    assert bob.user_id in receipt["content"][event_id]["m.read"]
    assert "typing" not in found or not found["typing"].get("rooms")
    # Typing wakes a waiting request.
    waiting = asyncio.create_task(sliding(http, alice, config, pos=first["pos"], timeout=10000))
    await asyncio.sleep(0.3)
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/typing/{bob.user_id}", json={"typing": True, "timeout": 30000},
        headers=bob.headers,
    ) as response:
        assert response.status == 200
    body = await asyncio.wait_for(waiting, 5)
    assert body["extensions"]["typing"]["rooms"][room_id]["content"]["user_ids"] == [bob.user_id]
    # A new receipt arrives as a delta; account data changes too.
    await post(http, alice, f"/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}", {})
    later = await sliding(http, alice, config, pos=body["pos"], timeout=5000)
    content = later["extensions"]["receipts"]["rooms"][room_id]["content"]
    assert list(content[event_id]["m.read"]) == [alice.user_id]
    assert "account_data" not in later["extensions"] or "global" not in later["extensions"]["account_data"]


async def test_versions_advertises_sliding_sync(http):
    async with http.get("/_matrix/client/versions") as response:
        body = await response.json()
    assert body["unstable_features"]["org.matrix.simplified_msc3575"] is True


async def test_quiet_requests_read_little(http, homeserver, make_user, monkeypatch):
    alice = await make_user("alice")
    for i in range(5):
        await create_room(http, alice, name=f"R{i}")
    encryption = {"conn_id": "encryption", "extensions": {"to_device": {"enabled": True}, "e2ee": {"enabled": True}}}
    first = await sliding(http, alice, encryption)
    room_list_config = {"conn_id": "room-list", "lists": {"all": room_list(required_state=ALL_STATE)}}
    rooms = await sliding(http, alice, room_list_config)
    statements = record_statements(homeserver, monkeypatch)
    # An extensions-only connection (Element X's to-device loop) builds no room list.
    await sliding(http, alice, encryption, pos=first["pos"], timeout=0)
    assert statements == []
    # Nor does a room list with nothing new: activity and m.direct carry over.
    quiet = await sliding(http, alice, room_list_config, pos=rooms["pos"], timeout=0)
    assert statements == []
    # A new message: its room's activity is read again, and it goes first.
    room_id = await create_room(http, alice, name="Newest")
    statements.clear()
    body = await sliding(http, alice, room_list_config, pos=quiet["pos"], timeout=0)
    assert list(body["rooms"]) == [room_id]
    assert body["lists"]["all"]["count"] == 6


async def test_own_profile_change_is_no_new_membership(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="Mine")
    config = {"lists": {"all": room_list(timeline_limit=5, required_state=[["m.room.member", "$ME"]])}}
    first = await sliding(http, alice, config)
    async with http.put(
        f"/_matrix/client/v3/profile/{alice.user_id}/displayname", json={"displayname": "Alice A."}, headers=alice.headers
    ) as response:
        assert response.status == 200
    body = await sliding(http, alice, config, pos=first["pos"], timeout=5000)
    room = body["rooms"][room_id]
    assert "initial" not in room
    assert [e["content"]["displayname"] for e in room["timeline"]] == ["Alice A."]
    assert [e["content"]["displayname"] for e in room["required_state"]] == ["Alice A."]


async def test_dm_list_follows_m_direct(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    config = {"lists": {"dms": room_list(is_dm=True)}}
    first = await sliding(http, alice, config)
    assert first["lists"]["dms"]["count"] == 0
    async with http.put(
        f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.direct", json={"@bob:veche.test": [room_id]},
        headers=alice.headers,
    ) as response:
        assert response.status == 200
    body = await sliding(http, alice, config, pos=first["pos"], timeout=5000)
    assert body["lists"]["dms"]["count"] == 1
    assert body["rooms"][room_id]["is_dm"] is True
    # A room already sent learns that it became a DM.
    other = await create_room(http, alice)
    everything = {"lists": {"all": room_list()}}
    sent = await sliding(http, alice, everything, pos=body["pos"], timeout=0)
    assert sent["rooms"][other]["is_dm"] is False
    async with http.put(
        f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.direct", json={"@bob:veche.test": [room_id, other]},
        headers=alice.headers,
    ) as response:
        assert response.status == 200
    changed = await sliding(http, alice, everything, pos=sent["pos"], timeout=5000)
    assert changed["rooms"] == {other: {"is_dm": True}}


async def test_room_lists_field_and_removed_name(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="Named")
    config = {
        "lists": {"one": room_list(range_end=0), "two": room_list(range_end=0, is_dm=True)},
        "room_subscriptions": {room_id: {"timeline_limit": 1}},
    }
    body = await sliding(http, alice, config)
    assert body["rooms"][room_id]["lists"] == ["one"]
    # Out of every list and only subscribed: the room says so with an empty `lists`.
    only_subscribed = {**config, "lists": {"two": room_list(range_end=0, is_dm=True)}}
    moved = await sliding(http, alice, only_subscribed, pos=body["pos"], timeout=0)
    assert moved["rooms"][room_id]["lists"] == []
    fresh = await sliding(http, alice, {**only_subscribed, "conn_id": "sub"})
    assert "lists" not in fresh["rooms"][room_id]
    # A removed room name is sent as null (MSC4186 Changelog 13).
    await put_state(http, alice, room_id, "m.room.name", {})
    renamed = await sliding(http, alice, only_subscribed, pos=moved["pos"], timeout=0)
    assert renamed["rooms"][room_id]["name"] is None


async def test_pos_pages_messages_and_relations(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="Paged")
    root = await send(http, alice, room_id, {"msgtype": "m.text", "body": "root"}, "p0")
    thread = {"msgtype": "m.text", "body": "before", "m.relates_to": {"rel_type": "m.thread", "event_id": root}}
    await send(http, alice, room_id, thread, "p1")
    body = await sliding(http, alice, {"lists": {"all": room_list()}})
    thread_after = {**thread, "body": "after"}
    await send(http, alice, room_id, thread_after, "p2")
    # A pos is a `from` as a /v3/sync next_batch is (MSC4186 Changelog 12): only what came before it.
    async with http.get(
        f"/_matrix/client/v3/rooms/{room_id}/messages", params={"dir": "b", "from": body["pos"], "limit": "2"},
        headers=alice.headers,
    ) as response:
        assert response.status == 200, await response.text()
        page = await response.json()
    assert [e["content"].get("body") for e in page["chunk"]] == ["before", "root"]
    async with http.get(
        f"/_matrix/client/v1/rooms/{room_id}/relations/{root}", params={"from": body["pos"]}, headers=alice.headers
    ) as response:
        assert response.status == 200, await response.text()
        related = await response.json()
    assert [e["content"]["body"] for e in related["chunk"]] == ["before"]
    # A pos still names its connection's snapshot exactly.
    generation, number, events = body["pos"].split("_")
    forged = f"{generation}_{number}_{int(events) + 1}"
    assert (await sliding(http, alice, {}, pos=forged, status=400))["errcode"] == "M_UNKNOWN_POS"
