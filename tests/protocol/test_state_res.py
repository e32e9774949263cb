"""State resolution scenarios: DAG branches built with the event factory, resolved state checked.

Room versions 10 and 11 exercise state res v2, 12 its v2.1 iteration, 1 the v1 algorithm.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.protocol.event_factory import EventFactory
from veche.protocol.events import Event
from veche.protocol.room_versions import get_room_version
from veche.protocol.state_res import MissingEventError, resolve_state

ALICE = "@alice:a.example"
BOB = "@bob:b.example"
CAROL = "@carol:c.example"
EVE = "@eve:e.example"

PL = ("m.room.power_levels", "")
JR = ("m.room.join_rules", "")
TOPIC = ("m.room.topic", "")
CREATE = ("m.room.create", "")


def member_key(user: str) -> tuple[str, str]:
    return ("m.room.member", user)


class Room:
    """A room whose events each cite the auth events the current branch state selects."""

    def __init__(self, version: str, users: dict[str, int], join_rule: str = "public") -> None:
        self.f = EventFactory(version)
        self.version = get_room_version(version)
        self.events: dict[str, Event] = {}
        create = self.f.create(ALICE)
        self.state: dict[tuple[str, str], str] = {}
        self.head = self._add(create)
        self.send_member(ALICE, "join")
        self.send(ALICE, "m.room.power_levels", "", {"users": users})
        self.send(ALICE, "m.room.join_rules", "", {"join_rule": join_rule})

    def _add(self, event: Event) -> Event:
        self.events[event.event_id] = event
        if event.is_state:
            self.state[event.state_tuple] = event.event_id
        return event

    def _auth(self, sender: str, event_type: str, state_key: str, content: dict) -> list[Event]:
        keys = [CREATE, PL, member_key(sender)]
        if event_type == "m.room.member":
            keys += [member_key(state_key), JR]
        return [self.events[self.state[k]] for k in dict.fromkeys(keys) if k in self.state]

    def send(self, sender: str, event_type: str, state_key: str, content: dict, **kwargs) -> Event:
        if event_type == "m.room.power_levels" and self.version.privileged_creators:
            # v12 creators may not be listed; their power is implied.
            content = {**content, "users": {u: lvl for u, lvl in content["users"].items() if u != ALICE}}
        event = self.f.state(
            event_type,
            sender,
            state_key,
            content,
            auth_events=self._auth(sender, event_type, state_key, content),
            prev_events=[self.head],
            **kwargs,
        )
        self.head = self._add(event)
        return event

    def send_member(self, target: str, membership: str, sender: str | None = None, **kwargs) -> Event:
        return self.send(sender or target, "m.room.member", target, {"membership": membership}, **kwargs)

    def fork(self) -> "Room":
        other = object.__new__(Room)
        other.f, other.version, other.events = self.f, self.version, self.events
        other.state, other.head = dict(self.state), self.head
        return other

    def resolve(self, *branches: "Room") -> dict[tuple[str, str], str]:
        return resolve_state(self.version, [b.state for b in branches], self.events)


V2_VERSIONS = ["10", "11", "12"]


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_ban_wins_over_join_when_the_banner_had_the_power(version):
    room = Room(version, {ALICE: 100})
    a, b = room.fork(), room.fork()
    ban = a.send_member(EVE, "ban", sender=ALICE)
    b.send_member(EVE, "join")
    assert room.resolve(a, b)[member_key(EVE)] == ban.event_id
    assert room.resolve(b, a)[member_key(EVE)] == ban.event_id


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_ban_by_a_concurrently_demoted_moderator_loses(version):
    room = Room(version, {ALICE: 100, BOB: 50})
    room.send_member(BOB, "join")
    eve_join = room.send_member(EVE, "join")
    a, b = room.fork(), room.fork()
    demote = a.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 0}})
    b.send_member(EVE, "ban", sender=BOB)
    resolved = room.resolve(a, b)
    assert resolved[PL] == demote.event_id
    assert resolved[member_key(EVE)] == eve_join.event_id


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_racing_power_levels_the_higher_powered_sender_is_applied_first(version):
    room = Room(version, {ALICE: 100, BOB: 50, CAROL: 10})
    room.send_member(BOB, "join")
    room.send_member(CAROL, "join")
    events = {"m.room.power_levels": 50}
    room.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 50, CAROL: 10}, "events": events})
    a, b = room.fork(), room.fork()
    # Bob's change is older, but Alice outranks him: hers is applied first, demotes him,
    # and his change then fails the auth rules.
    by_alice = a.send(
        ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 0, CAROL: 10}, "events": events},
        origin_server_ts=2_000_000_000_000,
    )
    b.send(
        BOB, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 50, CAROL: 0}, "events": events},
        origin_server_ts=1,
    )
    assert room.resolve(a, b)[PL] == by_alice.event_id
    assert room.resolve(b, a)[PL] == by_alice.event_id


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_racing_power_levels_by_equals_the_later_one_is_applied_last(version):
    room = Room(version, {ALICE: 100, BOB: 50, CAROL: 50})
    room.send_member(BOB, "join")
    room.send_member(CAROL, "join")
    content = {"users": {ALICE: 100, BOB: 50, CAROL: 50}, "events": {"m.room.power_levels": 50}}
    room.send(ALICE, "m.room.power_levels", "", content)
    a, b = room.fork(), room.fork()
    first = a.send(BOB, "m.room.power_levels", "", {**content, "ban": 40}, origin_server_ts=10)
    second = b.send(CAROL, "m.room.power_levels", "", {**content, "kick": 40}, origin_server_ts=20)
    assert room.resolve(a, b)[PL] == second.event_id
    assert first.event_id != second.event_id


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_join_rule_change_racing_a_join(version):
    room = Room(version, {ALICE: 100})
    a, b = room.fork(), room.fork()
    invite_only = a.send(ALICE, "m.room.join_rules", "", {"join_rule": "invite"})
    b.send_member(EVE, "join")
    resolved = room.resolve(a, b)
    assert resolved[JR] == invite_only.event_id
    assert member_key(EVE) not in resolved


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_topic_mainline_beats_timestamp(version):
    room = Room(version, {ALICE: 100})
    a, b = room.fork(), room.fork()
    # a's topic is newer by the clock but based on an older power level than b's.
    on_old_pl = a.send(ALICE, "m.room.topic", "", {"topic": "a"}, origin_server_ts=9_000_000_000_000)
    new_pl = b.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100}, "state_default": 40})
    on_new_pl = b.send(ALICE, "m.room.topic", "", {"topic": "b"}, origin_server_ts=1)
    resolved = room.resolve(a, b)
    assert resolved[PL] == new_pl.event_id
    assert resolved[TOPIC] == on_new_pl.event_id
    assert on_old_pl.event_id != resolved[TOPIC]


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_topic_same_mainline_later_timestamp_wins(version):
    room = Room(version, {ALICE: 100})
    a, b = room.fork(), room.fork()
    later = a.send(ALICE, "m.room.topic", "", {"topic": "a"}, origin_server_ts=50)
    b.send(ALICE, "m.room.topic", "", {"topic": "b"}, origin_server_ts=40)
    assert room.resolve(a, b)[TOPIC] == later.event_id
    assert room.resolve(b, a)[TOPIC] == later.event_id


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_topic_same_mainline_and_timestamp_larger_event_id_wins(version):
    room = Room(version, {ALICE: 100})
    a, b = room.fork(), room.fork()
    ta = a.send(ALICE, "m.room.topic", "", {"topic": "a"}, origin_server_ts=50)
    tb = b.send(ALICE, "m.room.topic", "", {"topic": "b"}, origin_server_ts=50)
    assert room.resolve(a, b)[TOPIC] == max(ta.event_id, tb.event_id)


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_event_failing_iterative_auth_checks_is_dropped(version):
    room = Room(version, {ALICE: 100, BOB: 50})
    room.send_member(BOB, "join")
    old_topic = room.send(ALICE, "m.room.topic", "", {"topic": "old"})
    a, b = room.fork(), room.fork()
    a.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 0}})
    # Allowed when sent (Bob had 50), but not once Alice's demotion is applied.
    b.send(BOB, "m.room.topic", "", {"topic": "bob's"}, origin_server_ts=9_000_000_000_000)
    assert room.resolve(a, b)[TOPIC] == old_topic.event_id


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_rejected_events_are_handled_as_usual(version):
    room = Room(version, {ALICE: 100})
    a, b = room.fork(), room.fork()
    a.send(ALICE, "m.room.topic", "", {"topic": "a"}, origin_server_ts=10)
    late = b.send(ALICE, "m.room.topic", "", {"topic": "b"}, origin_server_ts=20)
    # Rejected against the state at it, yet it passes the checks here, so it wins.
    late.rejected_reason = "auth"
    assert room.resolve(a, b)[TOPIC] == late.event_id


def test_rejected_auth_events_are_not_used_to_fill_missing_state():
    # v2.1 starts from an empty state, so Bob's rights come from his own auth events.
    room = Room("12", {BOB: 50})
    bob_join = room.send_member(BOB, "join")
    a, b = room.fork(), room.fork()
    a.send(ALICE, "m.room.topic", "", {"topic": "a"}, origin_server_ts=10)
    by_bob = b.send(BOB, "m.room.topic", "", {"topic": "b"}, origin_server_ts=20)
    assert room.resolve(a, b)[TOPIC] == by_bob.event_id
    bob_join.rejected_reason = "auth"
    assert room.resolve(a, b)[TOPIC] != by_bob.event_id


@pytest.mark.parametrize("version", V2_VERSIONS)
def test_unconflicted_state_wins_over_resolution(version):
    room = Room(version, {ALICE: 100})
    a, b = room.fork(), room.fork()
    name = a.send(ALICE, "m.room.name", "", {"name": "n"})
    b.state[("m.room.name", "")] = name.event_id
    a.send(ALICE, "m.room.topic", "", {"topic": "a"})
    resolved = room.resolve(a, b)
    assert resolved[("m.room.name", "")] == name.event_id
    assert resolved[CREATE] == room.state[CREATE]


def test_a_key_missing_from_one_set_is_a_conflict_in_v2():
    room = Room("10", {ALICE: 100, BOB: 0})
    room.send_member(BOB, "join")
    a, b = room.fork(), room.fork()
    # Bob may not set the topic (state_default 50): the key is only in one set, and the
    # resolution drops it instead of copying it through.
    b.send(BOB, "m.room.topic", "", {"topic": "bob"})
    assert TOPIC not in room.resolve(a, b)


def test_missing_event_raises():
    room = Room("10", {ALICE: 100})
    a, b = room.fork(), room.fork()
    a.send(ALICE, "m.room.topic", "", {"topic": "a"})
    tb = b.send(ALICE, "m.room.topic", "", {"topic": "b"})
    events = dict(room.events)
    del events[tb.event_id]
    with pytest.raises(MissingEventError):
        resolve_state(room.version, [a.state, b.state], events)


def test_v12_creators_outrank_everyone_in_the_power_ordering():
    room = Room("12", {BOB: 100, CAROL: 50})
    room.send_member(BOB, "join")
    room.send_member(CAROL, "join")
    a, b = room.fork(), room.fork()
    # Bob's change is older, but the creator's infinite power orders Alice's first; it
    # demotes Bob, whose change then fails.
    by_alice = a.send(ALICE, "m.room.power_levels", "", {"users": {BOB: 50, CAROL: 50}}, origin_server_ts=20)
    b.send(BOB, "m.room.power_levels", "", {"users": {BOB: 100, CAROL: 0}}, origin_server_ts=10)
    assert room.resolve(a, b)[PL] == by_alice.event_id


def test_v11_same_dag_without_creator_power_keeps_the_older_change():
    room = Room("11", {ALICE: 100, BOB: 100, CAROL: 50})
    room.send_member(BOB, "join")
    room.send_member(CAROL, "join")
    a, b = room.fork(), room.fork()
    a.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 50, CAROL: 50}}, origin_server_ts=20)
    by_bob = b.send(BOB, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 100, CAROL: 0}}, origin_server_ts=10)
    # Equal power: Bob's older change goes first; Alice may not then demote an equal.
    assert room.resolve(a, b)[PL] == by_bob.event_id


@pytest.mark.parametrize(("version", "winner"), [("11", "public"), ("12", "invite")])
def test_v12_iterative_auth_checks_start_from_an_empty_state(version, winner):
    # Bob changed the join rule while he had the power. Both state sets then carry Alice's
    # demotion of Bob, unconflicted. v2 checks Bob's change against that unconflicted
    # state and drops it; v2.1 starts from nothing and checks it against its own auth
    # events, where Bob still had the power.
    room = Room(version, {ALICE: 100, BOB: 50})
    room.send_member(BOB, "join")
    before = room.fork()
    by_bob = before.send(BOB, "m.room.join_rules", "", {"join_rule": "invite"})
    demote = room.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 0}})
    s1 = dict(room.state)
    s2 = {**room.state, JR: by_bob.event_id}
    resolved = resolve_state(room.version, [s1, s2], room.events)
    assert resolved[PL] == demote.event_id
    assert room.events[resolved[JR]].content["join_rule"] == winner


@pytest.mark.parametrize(("version", "winner"), [("11", "pl1"), ("12", "pl3")])
def test_v12_conflicted_subgraph_prevents_a_power_level_reset(version, winner):
    # pl1 -> pl2 (Alice promotes Bob) -> pl3 (Bob's own change, valid only through pl2).
    # One state set was reset to pl1 but still holds Carol's join, which cites pl2, so pl2
    # is in both auth chains and not in the auth difference. v2 replays pl1 and pl3 only,
    # and pl3 fails against pl1: the power levels reset. v2.1 adds pl2, which lies on the
    # auth path between the conflicted pl3 and pl1, and pl3 stands.
    room = Room(version, {ALICE: 100, BOB: 0})
    pl1 = room.events[room.state[PL]]
    room.send_member(BOB, "join")
    room.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 100}})
    room.send_member(CAROL, "join")
    pl3 = room.send(BOB, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 100, CAROL: 50}})
    reset = {**room.state, PL: pl1.event_id}
    resolved = resolve_state(room.version, [reset, room.state], room.events)
    assert resolved[PL] == {"pl1": pl1, "pl3": pl3}[winner].event_id


# --- room version 1 -------------------------------------------------------------------


def _sha1(event_id: str) -> str:
    return hashlib.sha1(event_id.encode()).hexdigest()


def test_v1_power_levels_are_resolved_first_then_members():
    room = Room("1", {ALICE: 100, BOB: 50})
    room.send_member(BOB, "join")
    eve_join = room.send_member(EVE, "join")
    a, b = room.fork(), room.fork()
    demote = a.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 0}})
    b.send_member(EVE, "ban", sender=BOB)
    resolved = room.resolve(a, b)
    # The power levels are settled first; Bob's ban is then checked in that state and fails.
    assert resolved[PL] == demote.event_id
    assert resolved[member_key(EVE)] == eve_join.event_id


def test_v1_auth_events_replay_oldest_first_and_stop_at_the_first_refusal():
    room = Room("1", {ALICE: 100, BOB: 50})
    room.send_member(BOB, "join")
    a, b = room.fork(), room.fork()
    shallow = a.send(ALICE, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 0}})
    b.send(ALICE, "m.room.topic", "", {"topic": "x"})
    deep = b.send(BOB, "m.room.power_levels", "", {"users": {ALICE: 100, BOB: 50}, "ban": 10})
    assert deep.depth > shallow.depth
    # The shallow change is taken first; Bob's deeper one is refused after it.
    assert room.resolve(a, b)[PL] == shallow.event_id


def test_v1_other_keys_pick_the_highest_depth_regardless_of_time():
    room = Room("1", {ALICE: 100})
    a, b = room.fork(), room.fork()
    a.send(ALICE, "m.room.name", "", {"name": "x"})
    deep = a.send(ALICE, "m.room.topic", "", {"topic": "deep"}, origin_server_ts=1)
    b.send(ALICE, "m.room.topic", "", {"topic": "shallow"}, origin_server_ts=9_000_000_000_000)
    assert room.resolve(a, b)[TOPIC] == deep.event_id


def test_v1_equal_depth_lowest_sha1_wins():
    room = Room("1", {ALICE: 100})
    a, b = room.fork(), room.fork()
    ta = a.send(ALICE, "m.room.topic", "", {"topic": "a"})
    tb = b.send(ALICE, "m.room.topic", "", {"topic": "b"})
    assert ta.depth == tb.depth
    assert room.resolve(a, b)[TOPIC] == min((ta.event_id, tb.event_id), key=_sha1)


def test_v1_a_key_missing_from_one_set_is_not_a_conflict():
    room = Room("1", {ALICE: 100, BOB: 0})
    room.send_member(BOB, "join")
    a, b = room.fork(), room.fork()
    by_bob = b.send(BOB, "m.room.topic", "", {"topic": "bob"})
    a.send(ALICE, "m.room.name", "", {"name": "x"})
    # Not auth-checked at all: only differing event IDs for one key are a conflict.
    assert room.resolve(a, b)[TOPIC] == by_bob.event_id


def test_v1_member_conflict_ban_after_join():
    room = Room("1", {ALICE: 100})
    a, b = room.fork(), room.fork()
    b.send_member(EVE, "join")
    a.send(ALICE, "m.room.topic", "", {"topic": "deeper"})
    ban = a.send_member(EVE, "ban", sender=ALICE)
    assert room.resolve(a, b)[member_key(EVE)] == ban.event_id


def test_v1_join_rules_are_resolved_before_members():
    room = Room("1", {ALICE: 100})
    room.send_member(EVE, "join")
    eve_leave = room.send_member(EVE, "leave")
    a, b = room.fork(), room.fork()
    invite_only = a.send(ALICE, "m.room.join_rules", "", {"join_rule": "invite"})
    b.send_member(EVE, "join")
    resolved = room.resolve(a, b)
    # The join rule is settled first (invite); Eve's rejoin is then refused.
    assert resolved[("m.room.join_rules", "")] == invite_only.event_id
    assert resolved[member_key(EVE)] == eve_leave.event_id
