"""Stream positions whose writes commit out of order."""

from __future__ import annotations

import asyncio

import pytest

from veche.storage.database import Database
from veche.storage.stream import StreamIdGenerator
from veche.storage.stores import create_event_stores

from tests.storage.roombuilder import RoomBuilder, standard_room


def test_token_waits_for_the_oldest_unfinished_position() -> None:
    gen = StreamIdGenerator(10)
    a, b, c = gen.allocate(), gen.allocate(), gen.allocate()
    assert (a, b, c) == (11, 12, 13)
    assert gen.current_token == 10
    gen.finish(c)
    gen.finish(b)
    # 13 committed, but 11 has not: a reader must not go past 10 or it would skip 11.
    assert gen.current_token == 10
    gen.finish(a)
    assert gen.current_token == 13


def test_failed_write_leaves_a_gap_not_a_stall() -> None:
    gen = StreamIdGenerator(0)
    with pytest.raises(RuntimeError), gen.position():
        raise RuntimeError
    with gen.position() as pos:
        assert pos == 2
        assert gen.current_token == 1
    assert gen.current_token == 2


async def test_starts_after_the_newest_persisted_event(database: Database) -> None:
    stores = await create_event_stores(database)
    b = RoomBuilder()
    for event in standard_room(b):
        prev = event.prev_event_ids
        before = await stores.state.get_snapshot_after(prev[0]) if prev else {}
        await stores.events.persist_event(event, state_before=before)
    gen = await StreamIdGenerator.from_database(database, "events", "stream_ordering")
    assert gen.current_token == 4
    assert gen.allocate() == 5


async def test_token_never_passes_a_write_still_in_flight(database: Database) -> None:
    stores = await create_event_stores(database)
    b = RoomBuilder()
    events = standard_room(b)
    await stores.events.persist_event(events[0], state_before={}, advance_current_state=True)
    tip = await stores.state.get_snapshot_after(events[0].event_id)
    # Hold the database's write path so the first persist waits after taking its position.
    started = asyncio.Event()
    release = asyncio.Event()

    async def blocker() -> None:
        async with database.transaction() as txn:
            await txn.execute("UPDATE rooms SET room_version = room_version")
            started.set()
            await release.wait()

    block = asyncio.create_task(blocker())
    await started.wait()
    slow = asyncio.create_task(stores.events.persist_event(events[1], state_before=tip))
    await asyncio.sleep(0.05)
    assert stores.events.current_stream_token == 1
    release.set()
    await block
    await slow
    assert stores.events.current_stream_token == 2
