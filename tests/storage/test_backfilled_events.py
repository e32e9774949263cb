"""Backfilled history in the event store, on every engine: negative stream positions that
no stream reader sees as new, backward extremities, topological pagination across them,
and a current state and forward extremities they leave alone."""

from __future__ import annotations

import pytest

from veche.protocol.events import Event
from veche.storage.content_index import ContentIndex
from veche.storage.database import Database
from veche.storage.events import TopologicalToken
from veche.storage.redactions import RedactionStore
from veche.storage.relations import RelationStore
from veche.storage.search import SearchIndex
from veche.storage.stores import EventStores, create_event_stores

from tests.storage.roombuilder import RoomBuilder, standard_room

END = TopologicalToken(2**62, 2**62)


@pytest.fixture
async def stores(database: Database) -> EventStores:
    return await create_event_stores(database)


class RemoteRoom:
    """A room whose history (setup, then messages) exists elsewhere; this server holds
    only what it joined with: the state as outliers and the join itself."""

    def __init__(self) -> None:
        self.b = RoomBuilder()
        self.setup = standard_room(self.b)
        self.history: list[Event] = []
        for n in range(6):
            message = self.b.make("m.room.message", {"body": f"m{n}"})
            self.b.advance(message)
            self.history.append(message)
        self.state_before_join = dict(self.b.state)
        self.join = self.b.make("m.room.member", {"membership": "join"}, sender="@bob:here", state_key="@bob:here")
        self.b.advance(self.join)

    async def join_on(self, stores: EventStores) -> None:
        for event in self.setup:
            await stores.events.persist_event(event, outlier=True)
        await stores.events.persist_event(self.join, state_before=self.state_before_join, advance_current_state=True)

    async def backfill(self, stores: EventStores, events: list[Event]) -> list[int]:
        """Persist `events` (newest first, as /backfill answers) oldest first."""
        positions = []
        for event in sorted(events, key=lambda e: e.depth):
            persisted = await stores.events.persist_event(
                event, state_before=self.state_before_join, backfilled=True
            )
            assert persisted.stream_ordering is not None
            positions.append(persisted.stream_ordering)
        return positions


async def bodies_backwards(stores: EventStores, room_id: str, limit: int) -> list[str]:
    """Every visible event from the end backwards, `limit` at a time, token to token."""
    seen: list[str] = []
    token: TopologicalToken | None = END
    while token is not None:
        page = await stores.events.paginate_room_events(room_id, token, "b", limit)
        seen += [e.content.get("body") or e.type for e in page.events]
        token = page.next_token
    return seen


async def test_backfilled_history_stays_out_of_the_live_stream(stores: EventStores) -> None:
    room = RemoteRoom()
    await room.join_on(stores)
    room_id = room.b.room_id
    join_stream = stores.events.current_stream_token
    assert await stores.events.get_backward_extremities(room_id, 2**62) == [
        (room.history[-1].event_id, room.join.depth)
    ]

    positions = await room.backfill(stores, room.history[-1:-4:-1])
    # Below every live position, counting down as history is added.
    assert positions == [-1, -2, -3] and stores.events.current_stream_token == join_stream
    assert await stores.events.get_backward_extremities(room_id, 2**62) == [
        (room.history[2].event_id, room.history[3].depth)
    ]
    # Nothing citing the hole is at or above depth 1: asking from there finds nothing.
    assert await stores.events.get_backward_extremities(room_id, 1) == []
    assert await stores.events.get_forward_extremities(room_id) == [room.join.event_id]
    assert await stores.state.get_current_state_ids(room_id) == room.b.state

    recent = await stores.events.get_recent_room_events(room_id, 0, join_stream, 10)
    assert [e.event_id for e in recent.events] == [room.join.event_id] and not recent.limited
    assert await stores.events.get_rooms_with_events([room_id], join_stream, join_stream) == set()
    assert await stores.events.get_max_stream_ordering() == join_stream

    # /messages pages by depth, tokens carrying negative positions across pages.
    assert await bodies_backwards(stores, room_id, 2) == ["m.room.member", "m5", "m4", "m3"]
    assert recent.prev_batch is not None
    page = await stores.events.paginate_room_events(room_id, recent.prev_batch, "b", 2)
    assert [e.content["body"] for e in page.events] == ["m5", "m4"]
    assert page.next_token is not None
    assert TopologicalToken.parse(page.next_token.serialize()) == page.next_token
    forwards = await stores.events.paginate_room_events(room_id, page.next_token, "f", 10)
    assert [e.event_id for e in forwards.events] == [*(e.event_id for e in room.history[4:]), room.join.event_id]

    # The state after a backfilled event is known, for history visibility.
    assert await stores.state.get_state_ids_after(room.history[4].event_id) == room.state_before_join


async def test_backfill_positions_continue_below_the_oldest_after_a_restart(
    stores: EventStores, database: Database
) -> None:
    room = RemoteRoom()
    await room.join_on(stores)
    await room.backfill(stores, room.history[-1:-3:-1])
    again = await create_event_stores(database)
    assert await room.backfill(again, room.history[-3:-5:-1]) == [-3, -4]


async def test_an_outlier_backfilled_into_the_timeline_closes_the_hole(stores: EventStores) -> None:
    room = RemoteRoom()
    await room.join_on(stores)
    room_id = room.b.room_id
    # Held as an outlier (e.g. fetched for state), the prev event is still a hole...
    await stores.events.persist_event(room.history[-1], outlier=True)
    extremities = await stores.events.get_backward_extremities(room_id, 2**62)
    assert [event_id for event_id, _ in extremities] == [room.history[-1].event_id]
    # ...until it joins the timeline; then its own prev event is.
    await room.backfill(stores, [room.history[-1]])
    extremities = await stores.events.get_backward_extremities(room_id, 2**62)
    assert [event_id for event_id, _ in extremities] == [room.history[-2].event_id]
    meta = await stores.events.get_event_meta([room.history[-1].event_id])
    assert not meta[room.history[-1].event_id].outlier


async def test_backfilling_reaches_the_create_event_and_leaves_no_hole(stores: EventStores) -> None:
    room = RemoteRoom()
    await room.join_on(stores)
    room_id = room.b.room_id
    everything = [*room.setup, *room.history]
    await room.backfill(stores, everything)
    assert await stores.events.get_backward_extremities(room_id, 2**62) == []
    bodies = await bodies_backwards(stores, room_id, 3)
    assert bodies == ["m.room.member", "m5", "m4", "m3", "m2", "m1", "m0", "m.room.join_rules",
                      "m.room.power_levels", "m.room.member", "m.room.create"]


async def test_a_live_event_with_a_missing_prev_event_is_a_hole(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    for event in setup:
        prev = event.prev_event_ids
        before = await stores.state.get_snapshot_after(prev[0]) if prev else {}
        await stores.events.persist_event(event, state_before=before, advance_current_state=True)
    lost = b.make("m.room.message", {"body": "lost"})
    b.advance(lost)
    after = b.make("m.room.message", {"body": "after"})
    await stores.events.persist_event(after, state_before=dict(b.state), advance_current_state=True)
    assert await stores.events.get_backward_extremities(b.room_id, 2**62) == [(lost.event_id, after.depth)]
    await stores.events.persist_event(lost, state_before=dict(b.state), backfilled=True)
    assert await stores.events.get_backward_extremities(b.room_id, 2**62) == []


async def test_the_content_and_search_indexes_take_in_backfilled_history(
    stores: EventStores, database: Database
) -> None:
    room = RemoteRoom()
    await room.join_on(stores)
    events = stores.events
    content = ContentIndex(database, stores.rooms, lambda: events.current_stream_token,
                           lambda: events.oldest_backfilled_token)
    search = SearchIndex(database, lambda: events.current_stream_token, lambda: events.oldest_backfilled_token)
    redactions, relations = RedactionStore(database, content), RelationStore(database, stores.rooms, content)
    await content.catch_up()
    await search.catch_up()

    target = room.history[-3]
    # History arrives newest first, in two rounds, each read by the indexes after it.
    made = room.b.make("m.room.redaction", {}, prev=[room.history[-2].event_id], depth=room.history[-2].depth)
    # Room version 10 names the redacted event at the top level.
    redaction = Event({**made.pdu, "redacts": target.event_id}, made.room_version, made.event_id)
    edit = room.b.make("m.room.message", {"body": "* m4 again", "m.new_content": {"body": "m4 again"},
                                          "m.relates_to": {"rel_type": "m.replace", "event_id": target.event_id}},
                       prev=[room.history[-2].event_id], depth=room.history[-2].depth)
    await room.backfill(stores, [redaction, edit, room.history[-1], room.history[-2]])
    assert await redactions.redactions_of([target.event_id]) == {target.event_id: [redaction.event_id]}
    await room.backfill(stores, room.history[:-2])
    [child] = await relations.children([target.event_id], ["m.replace"])
    assert child.event_id == edit.event_id
    hits = await search.search([room.b.room_id], "m1", keys=["content.body"], order_by_rank=False, after=None,
                               limit=10)
    assert [hit.event_id for hit in hits] == [room.history[1].event_id]

    # After a restart each index carries on from where it had read down to.
    again = SearchIndex(database, lambda: events.current_stream_token, lambda: events.oldest_backfilled_token)
    await again.catch_up()
    hits = await again.search([room.b.room_id], "m1", keys=["content.body"], order_by_rank=False, after=None,
                              limit=10)
    assert len(hits) == 1
