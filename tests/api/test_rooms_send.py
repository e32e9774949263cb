"""createRoom, sending messages and state, transaction IDs and redactions over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from veche.protocol.events import Event


async def create_room(http, user, **body):
    async with http.post("/_matrix/client/v3/createRoom", json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


async def current_state(homeserver, room_id) -> dict[tuple[str, str], Event]:
    return await homeserver.stores.events.get_current_state(room_id)


@pytest.mark.parametrize("version", ["1", "3", "10", "11", "12"])
async def test_create_room_builds_the_initial_state(http, homeserver, make_user, version):
    alice = await make_user("alice")
    room_id = await create_room(
        http, alice, room_version=version, preset="public_chat", name="Pub", topic="Happy hour",
        room_alias_name="pub",
    )
    state = await current_state(homeserver, room_id)
    assert state[("m.room.create", "")].content["room_version"] == version
    assert state[("m.room.member", alice.user_id)].membership == "join"
    assert state[("m.room.join_rules", "")].content == {"join_rule": "public"}
    assert state[("m.room.name", "")].content == {"name": "Pub"}
    assert state[("m.room.canonical_alias", "")].content == {"alias": "#pub:veche.test"}
    assert await homeserver.aliases.resolve("#pub:veche.test") == room_id
    if version == "12":
        assert room_id == "!" + state[("m.room.create", "")].event_id[1:]


@pytest.mark.parametrize("version", ["1", "11", "12"])
async def test_initial_events_commit_as_one_chain(http, homeserver, make_user, version):
    # Without an alias the create event and the creator's initial events share a transaction.
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(
        http, alice, room_version=version, preset="private_chat", name="Chained", invite=[bob.user_id]
    )
    events = homeserver.stores.events
    state = await current_state(homeserver, room_id)
    assert state[("m.room.name", "")].content == {"name": "Chained"}
    assert state[("m.room.member", bob.user_id)].membership == "invite"
    assert await homeserver.stores.rooms.get_rooms_for_user(alice.user_id) == [room_id]
    # One line of history: each event cites the one before, the last is the only extremity.
    [last] = await events.get_forward_extremities(room_id)
    chain = [await events.get_event(last)]
    while chain[-1].prev_event_ids:
        [prev] = chain[-1].prev_event_ids
        chain.append(await events.get_event(prev))
    assert [e.type for e in reversed(chain)][:3] == ["m.room.create", "m.room.member", "m.room.power_levels"]
    assert {e.event_id for e in chain} >= {e.event_id for e in state.values()}
    async with http.get(
        f"/_matrix/client/v3/rooms/{room_id}/messages", params={"dir": "b", "limit": "50"}, headers=alice.headers
    ) as response:
        assert response.status == 200
        assert [e["event_id"] for e in (await response.json())["chunk"]] == [e.event_id for e in chain]
    for event in chain:
        assert await homeserver.stores.state.get_state_ids_after(event.event_id) is not None


async def test_refused_initial_state_creates_no_room(http, homeserver, make_user):
    alice = await make_user("alice")
    # Power levels that leave the creator unable to send the preset's next state event.
    body = {"preset": "public_chat", "power_level_content_override": {"users": {alice.user_id: 0}}}
    async with http.post("/_matrix/client/v3/createRoom", json=body, headers=alice.headers) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_INVALID_ROOM_STATE"
    assert await homeserver.stores.rooms.get_rooms_for_user(alice.user_id) == []
    assert await create_room(http, alice, preset="public_chat")


async def test_alias_in_use_and_bad_requests(http, make_user):
    alice = await make_user("alice")
    await create_room(http, alice, room_alias_name="taken")
    for body, errcode in [
        ({"room_alias_name": "taken"}, "M_ROOM_IN_USE"),
        ({"room_version": "99"}, "M_UNSUPPORTED_ROOM_VERSION"),
        ({"preset": "party"}, "M_BAD_JSON"),
        ({"invite": ["not-a-user"]}, "M_INVALID_PARAM"),
    ]:
        async with http.post("/_matrix/client/v3/createRoom", json=body, headers=alice.headers) as response:
            assert response.status == 400
            assert (await response.json())["errcode"] == errcode


async def test_send_is_idempotent_per_transaction(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    path = f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/txn1"
    body = {"msgtype": "m.text", "body": "hello"}
    async with http.put(path, json=body, headers=alice.headers) as response:
        assert response.status == 200
        first = (await response.json())["event_id"]
    async with http.put(path, json=body, headers=alice.headers) as response:
        assert (await response.json())["event_id"] == first
    event = await homeserver.stores.events.get_event(first)
    assert event.content == body and event.sender == alice.user_id


async def test_retries_queued_with_new_sends_send_nothing(http, make_user):
    # Sends queued into a room together look their transaction IDs up together: the
    # retries among them answer with the first event, the new ones are sent.
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    other_room = await create_room(http, alice)

    async def put(room: str, txn_id: str, text: str) -> str:
        path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn_id}"
        async with http.put(path, json={"msgtype": "m.text", "body": text}, headers=alice.headers) as response:
            assert response.status == 200, await response.text()
            return (await response.json())["event_id"]

    first = await put(room_id, "used", "first")
    answers = await asyncio.gather(
        put(room_id, "used", "first"),
        *(put(room_id, f"new{i}", f"new {i}") for i in range(5)),
        put(other_room, "used", "first"),
        put(room_id, "used", "first"),
    )
    assert answers[0] == answers[-1] == answers[-2] == first
    assert len(set(answers[1:6])) == 5 and first not in answers[1:6]
    path = f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"
    async with http.get(path, headers=alice.headers) as response:
        chunk = (await response.json())["chunk"]
    bodies = sorted(e["content"]["body"] for e in chunk if e["type"] == "m.room.message")
    assert bodies == ["first", *(f"new {i}" for i in range(5))]


async def test_outsider_cannot_send(http, make_user):
    alice = await make_user("alice")
    mallory = await make_user("mallory")
    room_id = await create_room(http, alice)
    path = f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t"
    async with http.put(path, json={"body": "x"}, headers=mallory.headers) as response:
        assert response.status == 403
        assert (await response.json())["errcode"] == "M_FORBIDDEN"


async def test_state_and_redaction(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/state/m.room.topic", json={"topic": "t"}, headers=alice.headers
    ) as response:
        assert response.status == 200
    state = await current_state(homeserver, room_id)
    assert state[("m.room.topic", "")].content == {"topic": "t"}
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1", json={"body": "oops"}, headers=alice.headers
    ) as response:
        target = (await response.json())["event_id"]
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/redact/{target}/r1", json={"reason": "typo"}, headers=alice.headers
    ) as response:
        assert response.status == 200
        redaction = await homeserver.stores.events.get_event((await response.json())["event_id"])
    assert redaction.redacts == target
    assert redaction.content["reason"] == "typo"


async def test_unknown_room(http, make_user):
    alice = await make_user("alice")
    async with http.put(
        "/_matrix/client/v3/rooms/!nowhere:veche.test/send/m.room.message/t", json={}, headers=alice.headers
    ) as response:
        assert response.status == 404


async def test_simultaneous_identical_creations_make_distinct_rooms(homeserver, make_user):
    # In v12 the room ID is the create event's hash; a frozen clock makes two creations
    # by one user with the same content identical events unless the server separates them.
    from veche.protocol.room_versions import get_room_version

    alice = await make_user("alice")
    sender = homeserver.sender
    frozen = sender._clock
    sender._clock = lambda: 1_700_000_000.0
    try:
        first, second = [
            await sender.create_room(alice.user_id, get_room_version("12"), {"room_version": "12"}) for _ in range(2)
        ]
    finally:
        sender._clock = frozen
    assert first.room_id != second.room_id
