"""The many-room reads an initial /sync makes answer what the one-room reads answer, cold or warm."""

from __future__ import annotations

import pytest

from veche.protocol.events import Event
from veche.storage.database import Database
from veche.storage.events import TAIL_SIZE
from veche.storage.state import MAX_CHAIN_LENGTH
from veche.storage.stores import EventStores, create_event_stores

from tests.storage.roombuilder import RoomBuilder, standard_room


@pytest.fixture
async def stores(database: Database) -> EventStores:
    return await create_event_stores(database)


async def send(stores: EventStores, b: RoomBuilder, event: Event) -> None:
    b.advance(event)
    prev = event.prev_event_ids
    before = await stores.state.get_snapshot_after(prev[0]) if prev else {}
    await stores.events.persist_event(event, state_before=before, advance_current_state=True)


async def build_rooms(stores: EventStores) -> dict[str, RoomBuilder]:
    """Rooms of 0, 5 and TAIL_SIZE + 10 messages, their events interleaved in the stream;
    the big one gains members past the longest delta chain."""
    builders = {n: RoomBuilder(f"!r{n}:test") for n in (0, 5, TAIL_SIZE + 10)}
    for b in builders.values():
        for event in standard_room(b):
            await send(stores, b, event)
    for i in range(TAIL_SIZE + 10):
        for n, b in builders.items():
            if i < n:
                await send(stores, b, b.make("m.room.message", {"body": str(i)}))
    big = builders[TAIL_SIZE + 10]
    for i in range(MAX_CHAIN_LENGTH + 3):
        user = f"@u{i}:test"
        await send(stores, big, big.make("m.room.member", {"membership": "join"}, sender=user, state_key=user))
    return {b.room_id: b for b in builders.values()}


async def test_recent_events_for_rooms_match_one_room_reads(stores: EventStores, database: Database) -> None:
    rooms = await build_rooms(stores)
    room_ids = [*rooms, "!unknown:test"]
    now = stores.events.current_stream_token
    for from_stream, to_stream, limit in [
        (0, now, 10), (0, now, 1), (0, now, TAIL_SIZE), (0, now, TAIL_SIZE + 50), (now - 30, now, 5),
        (now - 30, now - 10, 40), (now, now, 10), (0, now, 0),
    ]:
        # Cold (tails read in one go) and then warm (tails cached).
        cold = await create_event_stores(database)
        for store in (cold, cold):
            many = await store.events.get_recent_events_for_rooms(room_ids, from_stream, to_stream, limit)
            assert set(many) == set(room_ids)
            for room_id in room_ids:
                one = await stores.events.get_recent_room_events(room_id, from_stream, to_stream, limit)
                got = many[room_id]
                case = (room_id, from_stream, to_stream, limit)
                assert [e.event_id for e in got.events] == [e.event_id for e in one.events], case
                assert (got.limited, got.prev_batch) == (one.limited, one.prev_batch), case


async def test_states_and_members_of_many_rooms_match_one_room_reads(stores: EventStores, database: Database) -> None:
    rooms = await build_rooms(stores)
    room_ids = [*rooms, "!unknown:test"]
    cold = await create_event_stores(database)
    timeline = await stores.events.get_recent_events_for_rooms(rooms, 0, stores.events.current_stream_token, 100)
    event_ids = [e.event_id for recent in timeline.values() for e in recent.events] + ["$unknown:test"]

    states_after = await cold.state.get_states_after(event_ids)
    assert set(states_after) == set(event_ids) - {"$unknown:test"}
    for event_id, state in states_after.items():
        assert state == await stores.state.get_state_ids_after(event_id)

    snapshots = await stores.state.get_snapshots_after(event_ids)
    loaded = await create_event_stores(database)
    assert await loaded.state.load_snapshots(snapshots.values()) == {
        nid: await stores.state.load_snapshot(nid) for nid in snapshots.values()
    }
    keys = [("m.room.create", ""), ("m.room.member", "@u3:test"), ("m.room.topic", "")]
    picked = await loaded.state.pick_many_snapshot_ids(dict.fromkeys(snapshots.values(), keys))
    for nid in snapshots.values():
        assert picked[nid] == await stores.state.pick_snapshot_ids(nid, keys)

    current = await cold.state.get_many_current_state_ids(room_ids)
    assert current == {room_id: await stores.state.get_current_state_ids(room_id) for room_id in room_ids}
    assert current[rooms["!r60:test"].room_id] == rooms["!r60:test"].state

    members = await cold.rooms.get_many_joined_members(room_ids)
    assert {room_id: sorted(m) for room_id, m in members.items()} == {
        room_id: sorted(await stores.rooms.get_joined_members(room_id)) for room_id in room_ids
    }
    assert len(members["!r60:test"]) == 1 + MAX_CHAIN_LENGTH + 3
    # Now cached: the same answer without the database.
    assert await cold.rooms.get_many_joined_members(room_ids) == members
