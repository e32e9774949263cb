"""The event and state stores on every engine."""

from __future__ import annotations

import pytest

from veche.protocol.events import Event
from veche.storage.database import Database
from veche.storage.events import TAIL_SIZE, TopologicalToken
from veche.storage import state as state_module
from veche.storage.state import MAX_CHAIN_LENGTH
from veche.storage.stores import EventStores, create_event_stores

from tests.storage.roombuilder import RoomBuilder, standard_room


@pytest.fixture
async def stores(database: Database) -> EventStores:
    return await create_event_stores(database)


async def persist_chain(stores: EventStores, b: RoomBuilder, events: list[Event]) -> list[int]:
    """Persist events that each follow the previous one, advancing current state."""
    snapshots = []
    for event in events:
        prev = event.prev_event_ids
        before = await stores.state.get_snapshot_after(prev[0]) if prev else {}
        persisted = await stores.events.persist_event(event, state_before=before, advance_current_state=True)
        snapshots.append(persisted.snapshot_nid)
    return snapshots


async def send(stores: EventStores, b: RoomBuilder, event: Event, **kwargs) -> int:
    b.advance(event)
    return (await persist_chain(stores, b, [event]))[0]


async def test_small_room_state_and_membership(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    await persist_chain(stores, b, setup)
    state_after_setup = dict(b.state)

    msg1 = b.make("m.room.message", {"body": "hi"})
    snap_msg1 = await send(stores, b, msg1)
    bob = b.make("m.room.member", {"membership": "join"}, sender="@bob:test", state_key="@bob:test")
    await send(stores, b, bob)
    name = b.make("m.room.name", {"name": "Room"}, state_key="")
    await send(stores, b, name)
    msg2 = b.make("m.room.message", {"body": "again"}, sender="@bob:test")
    snap_msg2 = await send(stores, b, msg2)

    assert await stores.state.get_current_state_ids(b.room_id) == b.state
    assert await stores.state.get_current_state_ids(b.room_id, ["m.room.name"]) == {
        ("m.room.name", ""): name.event_id
    }
    assert await stores.state.get_state_ids_after(msg1.event_id) == state_after_setup
    assert await stores.state.get_state_ids_after(setup[0].event_id) == {("m.room.create", ""): setup[0].event_id}
    # A message shares the snapshot of the state it follows.
    assert snap_msg1 == await stores.state.get_snapshot_after(setup[-1].event_id)
    assert snap_msg2 == await stores.state.get_snapshot_after(name.event_id)

    current = await stores.events.get_current_state(b.room_id, ["m.room.member"])
    assert {k: e.content["membership"] for k, e in current.items()} == {
        ("m.room.member", "@alice:test"): "join",
        ("m.room.member", "@bob:test"): "join",
    }
    assert (await stores.events.get_current_state_event(b.room_id, "m.room.name")).content == {"name": "Room"}
    assert sorted(await stores.rooms.get_joined_members(b.room_id)) == ["@alice:test", "@bob:test"]
    assert await stores.rooms.get_rooms_for_user("@bob:test") == [b.room_id]
    assert (await stores.rooms.get_room_version(b.room_id)).identifier == "10"
    assert await stores.events.get_forward_extremities(b.room_id) == [msg2.event_id]

    leave = b.make("m.room.member", {"membership": "leave"}, sender="@bob:test", state_key="@bob:test")
    await send(stores, b, leave)
    assert await stores.rooms.get_rooms_for_user("@bob:test") == []
    assert await stores.rooms.get_rooms_for_user("@bob:test", "leave") == [b.room_id]
    [membership] = await stores.rooms.get_memberships_for_user("@bob:test")
    assert (membership.membership, membership.event_id) == ("leave", leave.event_id)
    assert await stores.rooms.get_joined_members(b.room_id) == ["@alice:test"]


async def test_events_round_trip(stores: EventStores, database: Database) -> None:
    b = RoomBuilder()
    events = standard_room(b)
    await persist_chain(stores, b, events)
    # A fresh set of stores has cold caches and must read everything from the database.
    cold = await create_event_stores(database)
    got = await cold.events.get_events([e.event_id for e in events] + ["$unknown:test"])
    assert set(got) == {e.event_id for e in events}
    for event in events:
        assert got[event.event_id].pdu == event.pdu
        assert got[event.event_id].room_version.identifier == "10"
    assert [e.event_id for e in await cold.events.get_events_in_order([events[2].event_id, events[0].event_id])] == [
        events[2].event_id,
        events[0].event_id,
    ]
    assert await cold.events.have_events([events[1].event_id, "$nope:test"]) == {events[1].event_id}
    assert cold.stream.current_token == stores.stream.current_token == 4
    assert await cold.state.get_current_state_ids(b.room_id) == b.state


async def test_identical_states_share_a_snapshot(stores: EventStores, database: Database) -> None:
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    topic_a = b.make("m.room.topic", {"topic": "a"}, state_key="")
    snap_a = await send(stores, b, topic_a)
    # Two forks from the same point each set the same thing back to a state already stored.
    rules = b.state[("m.room.join_rules", "")]
    before_rules_change = await stores.state.get_snapshot_after(topic_a.event_id)
    invite = b.make("m.room.join_rules", {"join_rule": "invite"}, state_key="")
    snap_invite = await send(stores, b, invite)
    assert snap_invite != snap_a
    # Back to the previous join rules event, via a state given as a map.
    back = dict(b.state)
    back[("m.room.join_rules", "")] = rules
    msg = b.make("m.room.message", {"body": "x"})
    persisted = await stores.events.persist_event(msg, state_before=back, advance_current_state=True)
    assert persisted.snapshot_nid == before_rules_change
    # One snapshot per distinct state: create, +alice, +power levels, +join rules, +topic, +invite.
    assert await database.fetchval("SELECT COUNT(*) FROM state_snapshots") == 6
    assert await stores.state.get_current_state_ids(b.room_id) == back


async def test_long_delta_chains_load_correctly(stores: EventStores, database: Database) -> None:
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    expected: dict[str, dict] = {}
    for i in range(3 * MAX_CHAIN_LENGTH):
        user = f"@u{i}:test"
        event = b.make("m.room.member", {"membership": "join"}, sender=user, state_key=user)
        await send(stores, b, event)
        expected[event.event_id] = dict(b.state)
    max_chain = await database.fetchval("SELECT MAX(chain_length) FROM state_snapshots")
    assert 1 < max_chain <= MAX_CHAIN_LENGTH
    full_copies = await database.fetchval("SELECT COUNT(*) FROM state_snapshots WHERE parent_nid IS NULL")
    assert full_copies >= 3
    cold = await create_event_stores(database)
    for event_id, state in expected.items():
        assert await cold.state.get_state_ids_after(event_id) == state
    assert len(await cold.rooms.get_joined_members(b.room_id)) == 1 + 3 * MAX_CHAIN_LENGTH


@pytest.mark.parametrize("small_state_entries", [0, 1000], ids=["partial", "built"])
async def test_picking_keys_of_many_uncached_snapshots_reads_their_chains(
    stores: EventStores, database: Database, monkeypatch: pytest.MonkeyPatch, small_state_entries: int
) -> None:
    monkeypatch.setattr(state_module, "SMALL_STATE_ENTRIES", small_state_entries)
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    event_ids = []
    for i in range(2 * MAX_CHAIN_LENGTH + 5):
        user = f"@u{i % 40}:test"
        membership = "leave" if i >= 40 else "join"
        event = b.make("m.room.member", {"membership": membership}, sender=user, state_key=user)
        await send(stores, b, event)
        event_ids.append(event.event_id)
    snapshots = await stores.state.get_snapshots_after(event_ids)
    keys = [("m.room.create", ""), ("m.room.member", "@u3:test"), ("m.room.member", "@u39:test"), ("m.room.topic", "")]
    cold = await create_event_stores(database)
    picked = await cold.state.pick_many_snapshot_ids(dict.fromkeys(snapshots.values(), keys))
    for nid in snapshots.values():
        assert picked[nid] == await stores.state.pick_snapshot_ids(nid, keys)


async def test_small_rooms_picked_snapshots_are_cached_whole(stores: EventStores, database: Database) -> None:
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    event_ids = []
    for i in range(MAX_CHAIN_LENGTH + 5):
        event = b.make("m.room.topic", {"topic": str(i)}, state_key="")
        await send(stores, b, event)
        event_ids.append(event.event_id)
    snapshots = await stores.state.get_snapshots_after(event_ids)
    cold = await create_event_stores(database)
    keys = [("m.room.topic", "")]
    first = await cold.state.pick_many_snapshot_ids(dict.fromkeys(snapshots.values(), keys))

    statements: list[str] = []
    read = database.fetchall

    async def counting(sql: str, *args: object) -> list:
        statements.append(sql)
        return await read(sql, *args)

    database.fetchall = counting  # type: ignore[method-assign]
    try:
        again = await cold.state.pick_many_snapshot_ids(dict.fromkeys(snapshots.values(), keys))
        whole = await cold.state.load_snapshots(snapshots.values())
    finally:
        del database.fetchall
    assert statements == []
    assert again == first
    for event_id, nid in snapshots.items():
        assert first[nid] == {("m.room.topic", ""): event_id}
        assert whole[nid] == await stores.state.load_snapshot(nid)


async def test_pagination_both_directions(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    await persist_chain(stores, b, setup)
    messages = []
    for i in range(7):
        event = b.make("m.room.message", {"body": str(i)})
        await send(stores, b, event)
        messages.append(event)
    all_ids = [e.event_id for e in setup + messages]

    end = await stores.events.get_topological_token_at_stream(b.room_id, stores.events.current_stream_token)
    seen: list[str] = []
    token = end
    while token is not None:
        page = await stores.events.paginate_room_events(b.room_id, token, "b", 3)
        seen += [e.event_id for e in page.events]
        token = page.next_token
    assert seen == all_ids[::-1]

    seen = []
    token = TopologicalToken(0, 0)
    while token is not None:
        page = await stores.events.paginate_room_events(b.room_id, token, "f", 4)
        seen += [e.event_id for e in page.events]
        token = page.next_token
    assert seen == all_ids

    # A `to` token stops the page early.
    page = await stores.events.paginate_room_events(b.room_id, end, "b", 100, to_token=TopologicalToken(7, 7))
    assert [e.event_id for e in page.events] == all_ids[:6:-1]

    recent = await stores.events.get_recent_room_events(b.room_id, 0, stores.events.current_stream_token, 5)
    assert [e.event_id for e in recent.events] == all_ids[-5:]
    assert recent.limited
    # prev_batch continues exactly where the timeline starts.
    page = await stores.events.paginate_room_events(b.room_id, recent.prev_batch, "b", 100)
    assert [e.event_id for e in page.events] == all_ids[:-5][::-1]
    recent = await stores.events.get_recent_room_events(b.room_id, 8, 10, 5)
    assert [e.event_id for e in recent.events] == all_ids[8:10]
    assert not recent.limited
    assert await stores.events.get_rooms_with_events([b.room_id, "!other:test"], 8, 10) == {b.room_id}
    assert await stores.events.get_rooms_with_events([b.room_id], 11, 20) == set()
    assert TopologicalToken.parse(end.serialize()) == end


async def test_auth_chain(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    await persist_chain(stores, b, setup)
    msg = b.make("m.room.message", {"body": "x"})
    await send(stores, b, msg)
    create, alice, power, _ = setup
    assert await stores.events.get_auth_chain_ids([msg.event_id]) == {
        create.event_id,
        alice.event_id,
        power.event_id,
    }
    assert await stores.events.get_auth_chain_ids([alice.event_id]) == {create.event_id}
    chain = await stores.events.get_auth_chain([power.event_id])
    assert {e.event_id for e in chain} == {create.event_id, alice.event_id}


async def test_outliers_rejections_and_soft_failures(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    await persist_chain(stores, b, setup)
    tip = await stores.state.get_snapshot_after(setup[-1].event_id)

    # An outlier: stored, no stream position, no state, not in the timeline.
    outlier = b.make("m.room.message", {"body": "out"})
    persisted = await stores.events.persist_event(outlier, outlier=True)
    assert persisted.stream_ordering is None and persisted.snapshot_nid is None
    assert await stores.state.get_snapshot_after(outlier.event_id) is None
    assert (await stores.events.get_event(outlier.event_id)).pdu == outlier.pdu
    # Persisting it again as part of the timeline gives it a position and state.
    again = await stores.events.persist_event(outlier, state_before=tip, advance_current_state=True)
    assert again.stream_ordering is not None and again.snapshot_nid == tip
    assert (await stores.events.get_event_meta([outlier.event_id]))[outlier.event_id].outlier is False
    b.advance(outlier)
    # Persisting a known event again changes nothing.
    assert await stores.events.persist_event(outlier, state_before=tip) == again

    # A rejected state event changes no state and is not shown.
    rejected = b.make("m.room.name", {"name": "bad"}, state_key="", rejected_reason="auth")
    persisted = await stores.events.persist_event(rejected, state_before=tip, advance_current_state=True)
    assert persisted.snapshot_nid == tip
    assert (await stores.events.get_event(rejected.event_id)).rejected_reason == "auth"
    assert ("m.room.name", "") not in await stores.state.get_current_state_ids(b.room_id)
    assert await stores.events.get_forward_extremities(b.room_id) == [outlier.event_id]

    # A soft-failed event is not a forward extremity and not in timelines.
    soft = b.make("m.room.message", {"body": "soft"}, prev=[outlier.event_id])
    await stores.events.persist_event(soft, state_before=tip, soft_failed=True)
    assert await stores.events.get_forward_extremities(b.room_id) == [outlier.event_id]
    recent = await stores.events.get_recent_room_events(b.room_id, 0, stores.events.current_stream_token, 50)
    shown = [e.event_id for e in recent.events]
    assert outlier.event_id in shown
    assert rejected.event_id not in shown and soft.event_id not in shown


async def test_forks_and_merges(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    await persist_chain(stores, b, setup)
    fork_point = setup[-1].event_id
    tip = await stores.state.get_snapshot_after(fork_point)
    left = b.make("m.room.topic", {"topic": "left"}, state_key="", prev=[fork_point], depth=5)
    right = b.make("m.room.name", {"name": "right"}, state_key="", prev=[fork_point], depth=5)
    await stores.events.persist_event(left, state_before=tip, advance_current_state=True)
    await stores.events.persist_event(right, state_before=tip)
    assert sorted(await stores.events.get_forward_extremities(b.room_id)) == sorted([left.event_id, right.event_id])
    # The merged state comes from state resolution; storage takes it as given.
    merged = dict(b.state)
    merged[("m.room.topic", "")] = left.event_id
    merged[("m.room.name", "")] = right.event_id
    merge = b.make("m.room.message", {"body": "merge"}, prev=[left.event_id, right.event_id], depth=6)
    await stores.events.persist_event(merge, state_before=merged, advance_current_state=True)
    assert await stores.events.get_forward_extremities(b.room_id) == [merge.event_id]
    assert await stores.state.get_state_ids_after(merge.event_id) == merged
    assert await stores.state.get_current_state_ids(b.room_id) == merged


async def test_late_parent_is_not_an_extremity(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    await persist_chain(stores, b, setup)
    tip = await stores.state.get_snapshot_after(setup[-1].event_id)
    parent = b.make("m.room.message", {"body": "parent"})
    child = b.make("m.room.message", {"body": "child"}, prev=[parent.event_id])
    await stores.events.persist_event(child, state_before=tip)
    await stores.events.persist_event(parent, state_before=tip)
    assert await stores.events.get_forward_extremities(b.room_id) == [child.event_id]


async def test_room_version_one_event_format(stores: EventStores) -> None:
    b = RoomBuilder(room_id="!old:test", version="1")
    create = b.make("m.room.create", {"creator": "@alice:test"}, state_key="")
    create.pdu["prev_events"] = []
    b.advance(create)
    member = b.make("m.room.member", {"membership": "join"}, state_key="@alice:test")
    member.pdu["prev_events"] = [[create.event_id, {"sha256": "x"}]]
    member.pdu["auth_events"] = [[create.event_id, {"sha256": "x"}]]
    await stores.events.persist_event(create, state_before={}, advance_current_state=True)
    before = await stores.state.get_snapshot_after(create.event_id)
    await stores.events.persist_event(member, state_before=before, advance_current_state=True)
    assert await stores.events.get_auth_chain_ids([member.event_id]) == {create.event_id}
    assert await stores.rooms.get_joined_members("!old:test") == ["@alice:test"]
    assert (await stores.events.get_event(member.event_id)).prev_event_ids == [create.event_id]


async def test_non_outlier_needs_state(stores: EventStores) -> None:
    b = RoomBuilder()
    with pytest.raises(ValueError):
        await stores.events.persist_event(b.make("m.room.message", {}))


async def test_failed_persist_leaves_no_trace(stores: EventStores, database: Database) -> None:
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    before_token = stores.stream.current_token
    msg = b.make("m.room.message", {"body": "x"})
    with pytest.raises(KeyError):
        await stores.events.persist_event(msg, state_before=987654, advance_current_state=True)
    assert await stores.events.have_events([msg.event_id]) == set()
    # The failed write's position is skipped, not left pending.
    assert stores.stream.current_token == before_token + 1
    assert await database.fetchval("SELECT COUNT(*) FROM event_ids WHERE event_id = ?", msg.event_id) == 0
    # Nothing the rolled-back transaction created was cached.
    tip = await stores.state.get_snapshot_after(b.last[0])
    persisted = await stores.events.persist_event(msg, state_before=tip, advance_current_state=True)
    assert persisted.snapshot_nid == tip
    assert (await stores.events.get_event(msg.event_id)).pdu == msg.pdu
    assert persisted.stream_ordering == before_token + 2
    recent = await stores.events.get_recent_room_events(b.room_id, before_token, stores.stream.current_token, 5)
    assert [e.event_id for e in recent.events] == [msg.event_id]


async def test_cached_current_state_follows_changes(stores: EventStores, database: Database) -> None:
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    topic = b.make("m.room.topic", {"topic": "t"}, state_key="")
    await send(stores, b, topic)
    assert await stores.state.get_current_state_ids(b.room_id) == b.state  # now cached
    carol = b.make("m.room.member", {"membership": "join"}, sender="@carol:test", state_key="@carol:test")
    await send(stores, b, carol)
    assert await stores.state.get_current_state_ids(b.room_id) == b.state
    # A resolved state that drops keys (here the topic and carol) removes them everywhere.
    resolved = {k: v for k, v in b.state.items() if k not in {("m.room.topic", ""), ("m.room.member", "@carol:test")}}
    msg = b.make("m.room.message", {"body": "after resolution"})
    await stores.events.persist_event(msg, state_before=resolved, advance_current_state=True)
    assert await stores.state.get_current_state_ids(b.room_id) == resolved
    assert await stores.state.get_current_state_ids(b.room_id, ["m.room.topic", "m.room.create"]) == {
        ("m.room.create", ""): resolved[("m.room.create", "")]
    }
    assert await stores.rooms.get_joined_members(b.room_id) == ["@alice:test"]
    cold = await create_event_stores(database)
    assert await cold.state.get_current_state_ids(b.room_id) == resolved


async def test_snapshots_read_while_persisting_are_cached(stores: EventStores, database: Database) -> None:
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    # After a restart the caches are cold; the first message loads the snapshot, the rest reuse it.
    cold = await create_event_stores(database)
    tip = await cold.state.get_snapshot_after(b.last[0])
    msg = b.make("m.room.message", {"body": "x"})
    await cold.events.persist_event(msg, state_before=tip, advance_current_state=True)
    await database.execute("UPDATE state_snapshots SET entries = ? WHERE snapshot_nid = ?", b"", tip)
    assert await cold.state.get_state_ids_after(msg.event_id) == b.state


async def test_recent_events_answered_from_the_tail_for_any_limit(stores: EventStores) -> None:
    b = RoomBuilder()
    setup = standard_room(b)
    await persist_chain(stores, b, setup)
    messages = []
    for i in range(TAIL_SIZE + 10):
        messages.append(b.make("m.room.message", {"body": str(i)}))
        await send(stores, b, messages[-1])
    # One room, persisted one event at a time: stream positions count 1, 2, 3 …
    every = list(enumerate((e.event_id for e in setup + messages), start=1))
    now = stores.events.current_stream_token
    assert now == len(every)
    for from_stream, to_stream, limit in [
        (now - 3, now, 1), (now - 3, now, 3), (now - 3, now, TAIL_SIZE + 50), (now - 20, now - 5, 7),
        (now - TAIL_SIZE - 5, now, TAIL_SIZE + 50), (0, now, TAIL_SIZE + 50), (now, now, 10), (now - 1, now - 1, 10),
    ]:
        inside = [event_id for position, event_id in every if from_stream < position <= to_stream]
        recent = await stores.events.get_recent_room_events(b.room_id, from_stream, to_stream, limit)
        assert [e.event_id for e in recent.events] == inside[-limit:], (from_stream, to_stream, limit)
        assert recent.limited == (len(inside) > limit)
        [batched] = (await stores.events.get_recent_events_for_rooms([b.room_id], from_stream, to_stream, limit)).values()
        assert [e.event_id for e in batched.events] == inside[-limit:], (from_stream, to_stream, limit)
        assert batched.limited == recent.limited
    # A cold store (no tail yet) answers the same.
    cold = await create_event_stores(stores.events._db)
    recent = await cold.events.get_recent_room_events(b.room_id, now - 3, now, TAIL_SIZE + 50)
    assert [e.event_id for e in recent.events] == [event_id for _, event_id in every[-3:]]


async def test_rooms_with_member_changes(stores: EventStores) -> None:
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    before_join = stores.events.current_stream_token
    await send(stores, b, b.make("m.room.message", {"body": "hi"}))
    assert stores.rooms.rooms_with_member_changes([b.room_id], before_join) == []
    await send(stores, b, b.make("m.room.member", {"membership": "join"}, sender="@bob:test", state_key="@bob:test"))
    after_join = stores.events.current_stream_token
    assert stores.rooms.rooms_with_member_changes([b.room_id, "!other:test"], before_join) == [b.room_id]
    assert stores.rooms.rooms_with_member_changes([b.room_id], after_join) == []
    # A fresh process cannot vouch for what happened before it started.
    cold = await create_event_stores(stores.events._db)
    assert cold.rooms.rooms_with_member_changes([b.room_id], before_join) == [b.room_id]
    assert cold.rooms.rooms_with_member_changes([b.room_id], after_join) == []


async def test_a_chain_of_messages_and_state_persists_in_one_transaction(
    stores: EventStores, database: Database
) -> None:
    """`persist_event_chain` holds back a message's writes to send them with later ones;
    state events in between, and the chain's end, must still find and store them all."""
    b = RoomBuilder()
    await persist_chain(stores, b, standard_room(b))
    state_after_setup = dict(b.state)
    chain = []
    for kind in ["msg", "msg", "join", "msg", "name", "msg", "msg"]:
        if kind == "join":
            event = b.make("m.room.member", {"membership": "join"}, sender="@bob:test", state_key="@bob:test")
        elif kind == "name":
            event = b.make("m.room.name", {"name": "Chained"}, state_key="")
        else:
            event = b.make("m.room.message", {"body": f"m{len(chain)}"})
        b.advance(event)
        chain.append(event)
    before = await stores.state.get_snapshot_after(chain[0].prev_event_ids[0])
    assert before is not None
    persisted = await stores.events.persist_event_chain(chain, state_before=before)

    assert [p.stream_ordering for p in persisted] == list(range(5, 12))
    assert persisted[0].snapshot_nid == persisted[1].snapshot_nid == before
    # A fresh set of stores reads everything back from the database.
    cold = await create_event_stores(database)
    got = await cold.events.get_events([e.event_id for e in chain])
    assert {i: e.pdu for i, e in got.items()} == {e.event_id: e.pdu for e in chain}
    assert await cold.state.get_current_state_ids(b.room_id) == b.state
    assert await cold.state.get_state_ids_after(chain[1].event_id) == state_after_setup
    assert (await cold.state.get_state_ids_after(chain[3].event_id))[("m.room.member", "@bob:test")] == chain[2].event_id
    assert sorted(await cold.rooms.get_joined_members(b.room_id)) == ["@alice:test", "@bob:test"]
    assert await cold.events.get_forward_extremities(b.room_id) == [chain[-1].event_id]
    assert [e.event_id for e in (await cold.events.get_recent_room_events(b.room_id, 4, 11, 7)).events] == [
        e.event_id for e in chain
    ]



async def test_a_new_room_persists_as_one_chain(stores: EventStores, database: Database) -> None:
    """From the create event on (createRoom): each state event is built on the state the
    chain made current, so its current-state and membership writes wait for the chain's end."""
    b = RoomBuilder()
    events = standard_room(b)
    b.advance(name := b.make("m.room.name", {"name": "New"}, state_key=""))
    events.append(name)
    persisted = await stores.events.persist_event_chain(events, state_before={})

    assert len({p.snapshot_nid for p in persisted}) == len(events)
    cold = await create_event_stores(database)
    assert await cold.state.get_current_state_ids(b.room_id) == b.state
    assert await cold.rooms.get_joined_members(b.room_id) == ["@alice:test"]
    assert await cold.events.get_forward_extremities(b.room_id) == [name.event_id]
    after_join = await cold.state.get_state_ids_after(events[1].event_id)
    assert after_join == {("m.room.create", ""): events[0].event_id, ("m.room.member", "@alice:test"): events[1].event_id}
    assert await cold.state.get_state_ids_after(name.event_id) == b.state


async def test_latest_event_ids_at_read_cold(stores: EventStores) -> None:
    """A cold store (no tails) reads each room's last visible event at a position."""
    first, second = RoomBuilder("!first:test"), RoomBuilder("!second:test")
    await persist_chain(stores, first, standard_room(first))
    second_setup = standard_room(second)
    await persist_chain(stores, second, second_setup)
    message = first.make("m.room.message", {"body": "seen"})
    await send(stores, first, message)
    at = stores.events.current_stream_token
    later = second.make("m.room.message", {"body": "after the position"})
    await send(stores, second, later)
    # A soft-failed event after the message is not what the first room ends with.
    soft = first.make("m.room.message", {"body": "soft"}, prev=[message.event_id])
    tip = await stores.state.get_snapshot_after(message.event_id)
    await stores.events.persist_event(soft, state_before=tip, soft_failed=True)
    cold = await create_event_stores(stores.events._db)
    now = cold.events.current_stream_token
    rooms = [first.room_id, second.room_id, "!unknown:x"]
    assert await cold.events.get_latest_event_ids_at(rooms, at) == {
        first.room_id: message.event_id, second.room_id: second_setup[-1].event_id,
    }
    assert await cold.events.get_latest_event_ids_at(rooms, now) == {
        first.room_id: message.event_id, second.room_id: later.event_id,
    }
