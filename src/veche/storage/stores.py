"""Building the event, state and room stores over one database, sharing their interners."""

from __future__ import annotations

from dataclasses import dataclass

from veche.storage.cache import CacheSizes
from veche.storage.database import Database
from veche.storage.events import EventStore
from veche.storage.interning import StateKeyInterner, StringInterner
from veche.storage.rooms import RoomStore
from veche.storage.state import StateStore
from veche.storage.stream import StreamIdGenerator


@dataclass(frozen=True, slots=True)
class EventStores:
    events: EventStore
    state: StateStore
    rooms: RoomStore
    stream: StreamIdGenerator


async def create_event_stores(db: Database, caches: CacheSizes = CacheSizes()) -> EventStores:
    """The stores for one process; the stream allocator starts after the newest event, the
    backfill allocator below the oldest backfilled one."""
    event_ids = StringInterner(db.engine, "event_ids", "event_nid", "event_id", cache_size=caches.interned_ids)
    users = StringInterner(db.engine, "user_ids", "user_nid", "user_id", cache_size=caches.interned_ids)
    state_keys = StateKeyInterner(cache_size=caches.interned_ids)
    stream = await StreamIdGenerator.from_database(db, "events", "stream_ordering")
    rooms = RoomStore(
        db, users, membership_cache_size=caches.memberships, member_changes_from=stream.current_token
    )
    state = StateStore(
        db,
        event_ids,
        state_keys,
        rooms,
        snapshot_cache_size=caches.state_snapshots,
        event_snapshot_cache_size=caches.event_snapshots,
        current_state_cache_size=caches.current_states,
        state_entries_per_cache=caches.state_entries,
    )
    # Backfilled events count down from 0; this generator hands out their negations.
    lowest = min(
        await db.fetchval("SELECT MIN(stream_ordering) FROM events") or 0,
        await db.fetchval("SELECT lowest FROM stream_marks WHERE stream_table = 'events'") or 0,
    )
    backfill_stream = StreamIdGenerator(max(0, -lowest))
    events = EventStore(
        db,
        stream,
        event_ids,
        users,
        state_keys,
        rooms,
        state,
        backfill_stream=backfill_stream,
        event_cache_size=caches.events,
        parsed_event_cache_size=caches.parsed_events,
        tail_cache_rooms=caches.room_tails,
    )
    return EventStores(events=events, state=state, rooms=rooms, stream=stream)
