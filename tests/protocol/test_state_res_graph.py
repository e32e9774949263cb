"""Auth chains, auth difference, conflicted subgraph and the two orderings of state res v2."""

import pytest

from tests.protocol.event_factory import EventFactory
from veche.protocol.state_res import MissingEventError, auth_chain, auth_chain_difference
from veche.protocol.state_res.graph import conflicted_subgraph
from veche.protocol.state_res.ordering import (
    is_power_event,
    mainline_order,
    reverse_topological_power_order,
)

ALICE = "@alice:a.example"
BOB = "@bob:b.example"
EVE = "@eve:e.example"


def _index(*events):
    return {e.event_id: e for e in events}


def _room(version="10"):
    f = EventFactory(version)
    create = f.create(ALICE)
    join = f.member(ALICE, "join", auth_events=[create], prev_events=[create])
    pl = f.state(
        "m.room.power_levels", ALICE, "", {"users": {ALICE: 100, BOB: 50}}, auth_events=[create, join], prev_events=[join]
    )
    return f, create, join, pl


def test_auth_chain_follows_auth_events_recursively():
    f, create, join, pl = _room()
    topic = f.state("m.room.topic", ALICE, "", {"topic": "x"}, auth_events=[create, join, pl], prev_events=[pl])
    events = _index(create, join, pl, topic)
    assert auth_chain([topic.event_id], events) == {create.event_id, join.event_id, pl.event_id}
    assert auth_chain([create.event_id], events) == set()
    # A starting event is included only if another starting event reaches it.
    assert auth_chain([topic.event_id, pl.event_id], events) == {create.event_id, join.event_id, pl.event_id}


def test_v12_auth_chain_includes_the_create_event_named_by_the_room_id():
    f, create, join, pl = _room("12")
    assert create.event_id not in pl.auth_event_ids
    events = _index(create, join, pl)
    assert auth_chain([pl.event_id], events) == {create.event_id, join.event_id}


def test_missing_event_is_reported_by_id():
    f, create, join, pl = _room()
    with pytest.raises(MissingEventError) as raised:
        auth_chain([pl.event_id], _index(pl, join))
    assert raised.value.event_id == create.event_id


def test_auth_difference():
    f, create, join, pl = _room()
    bob = f.member(BOB, "join", auth_events=[create, pl], prev_events=[pl])
    pl2 = f.state("m.room.power_levels", ALICE, "", {"users": {ALICE: 100}}, auth_events=[create, join, pl])
    topic = f.state("m.room.topic", BOB, "", {"topic": "b"}, auth_events=[create, bob, pl])
    events = _index(create, join, pl, bob, pl2, topic)
    base = {("m.room.create", ""): create.event_id, ("m.room.member", ALICE): join.event_id}
    s1 = {**base, ("m.room.power_levels", ""): pl2.event_id}
    s2 = {**base, ("m.room.power_levels", ""): pl.event_id, ("m.room.topic", ""): topic.event_id}
    # C1 = {create, join, pl2, pl}; C2 = {create, join, pl, topic, bob}.
    assert auth_chain_difference([s1, s2], events) == {pl2.event_id, topic.event_id, bob.event_id}
    assert auth_chain_difference([s1], events) == set()
    assert auth_chain_difference([s1, s1], events) == set()


def test_conflicted_subgraph_keeps_only_paths_between_conflicted_events():
    f, create, join, pl = _room()
    # c1 -> x -> c2, and c1 -> y where y leads to no conflicted event.
    c2 = f.state("m.room.topic", ALICE, "", {"topic": "1"}, auth_events=[create, join, pl])
    x = f.state("m.room.name", ALICE, "", {"name": "x"}, auth_events=[c2])
    y = f.state("m.room.avatar", ALICE, "", {}, auth_events=[create])
    c1 = f.state("m.room.topic", ALICE, "", {"topic": "2"}, auth_events=[x, y])
    events = _index(create, join, pl, c1, c2, x, y)
    assert conflicted_subgraph({c1.event_id, c2.event_id}, events) == {c1.event_id, x.event_id, c2.event_id}
    assert conflicted_subgraph({c1.event_id}, events) == {c1.event_id}


def test_power_events():
    f, create, join, pl = _room()
    jr = f.state("m.room.join_rules", ALICE, "", {"join_rule": "public"}, auth_events=[create, join, pl])
    kick = f.member(EVE, "leave", sender=ALICE, auth_events=[create, join, pl])
    ban = f.member(EVE, "ban", sender=ALICE, auth_events=[create, join, pl])
    leave = f.member(EVE, "leave", auth_events=[create, pl])
    topic = f.state("m.room.topic", ALICE, "", {"topic": "t"}, auth_events=[create, join, pl])
    assert [is_power_event(e) for e in (pl, jr, kick, ban)] == [True] * 4
    assert [is_power_event(e) for e in (leave, join, topic, create)] == [False] * 4


def test_reverse_topological_power_order_respects_auth_dag_then_power_then_ts_then_id():
    f, create, join, pl = _room()
    bob = f.member(BOB, "join", auth_events=[create, pl])
    # Bob's event comes first in time but Alice has more power; the auth DAG comes first of all.
    by_bob = f.state("m.room.join_rules", BOB, "", {"join_rule": "invite"}, auth_events=[create, pl, bob], origin_server_ts=1)
    by_alice = f.state("m.room.join_rules", ALICE, "", {"join_rule": "public"}, auth_events=[create, pl, join], origin_server_ts=9)
    late = f.state(
        "m.room.power_levels", ALICE, "", {"users": {ALICE: 100}}, auth_events=[create, join, pl, by_alice], origin_server_ts=2
    )
    events = _index(create, join, pl, bob, by_bob, by_alice, late)
    ids = [by_bob.event_id, by_alice.event_id, late.event_id, pl.event_id]
    # `late` follows `by_alice` despite its earlier timestamp; Bob's power puts him last.
    assert reverse_topological_power_order(ids, events) == [pl.event_id, by_alice.event_id, late.event_id, by_bob.event_id]

    same_ts = [f.state("m.room.topic", ALICE, "", {"topic": t}, auth_events=[create, pl, join], origin_server_ts=5) for t in "abc"]
    events.update(_index(*same_ts))
    assert reverse_topological_power_order([e.event_id for e in same_ts], events) == sorted(e.event_id for e in same_ts)


def test_reverse_topological_order_sees_through_events_outside_the_set():
    f, create, join, pl = _room()
    # top -> middle -> bottom: middle is not sorted, but bottom must still come before top.
    bottom = f.state("m.room.join_rules", BOB, "", {"join_rule": "invite"}, auth_events=[create, pl], origin_server_ts=50)
    middle = f.state("m.room.name", ALICE, "", {"name": "m"}, auth_events=[bottom])
    top = f.state("m.room.join_rules", ALICE, "", {"join_rule": "public"}, auth_events=[middle, join, create, pl], origin_server_ts=1)
    events = _index(create, join, pl, bottom, middle, top)
    assert reverse_topological_power_order([top.event_id, bottom.event_id], events) == [bottom.event_id, top.event_id]


def test_mainline_order():
    f, create, join, pl = _room()
    pl2 = f.state("m.room.power_levels", ALICE, "", {"users": {ALICE: 100}}, auth_events=[create, join, pl])
    pl3 = f.state("m.room.power_levels", ALICE, "", {"users": {ALICE: 100}}, auth_events=[create, join, pl2])
    off_mainline = f.state("m.room.power_levels", ALICE, "", {"users": {ALICE: 99}}, auth_events=[create, join, pl2])
    on_pl3 = f.state("m.room.topic", ALICE, "", {"topic": "3"}, auth_events=[create, join, pl3], origin_server_ts=1)
    on_pl = f.state("m.room.topic", ALICE, "", {"topic": "1"}, auth_events=[create, join, pl], origin_server_ts=3)
    via_off = f.state("m.room.topic", ALICE, "", {"topic": "2"}, auth_events=[create, join, off_mainline], origin_server_ts=2)
    no_pl = f.state("m.room.topic", ALICE, "", {"topic": "0"}, auth_events=[create, join], origin_server_ts=9)
    events = _index(create, join, pl, pl2, pl3, off_mainline, on_pl3, on_pl, via_off, no_pl)
    ids = [on_pl3.event_id, on_pl.event_id, via_off.event_id, no_pl.event_id]
    # Positions from pl3: no_pl ∞, on_pl 2, via_off 1 (through pl2), on_pl3 0.
    assert mainline_order(ids, pl3.event_id, events) == [no_pl.event_id, on_pl.event_id, via_off.event_id, on_pl3.event_id]
    # Without a power level every position is ∞: timestamps decide.
    assert mainline_order(ids, None, events) == [on_pl3.event_id, via_off.event_id, on_pl.event_id, no_pl.event_id]
