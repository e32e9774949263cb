"""Properties of state resolution over randomly built DAG branches (hypothesis)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.test_state_res import ALICE, BOB, CAROL, EVE, Room
from veche.protocol.state_res import iterative_auth, resolve_state

USERS = [ALICE, BOB, CAROL, EVE]

actions = st.tuples(
    st.sampled_from(["topic", "name", "power", "ban", "kick", "join", "leave", "join_rule"]),
    st.sampled_from(USERS),
    st.sampled_from(USERS),
    st.integers(min_value=0, max_value=100),
)


def _apply(room: Room, action: tuple[str, str, str, int]) -> None:
    kind, sender, target, n = action
    if kind in ("topic", "name"):
        room.send(sender, f"m.room.{kind}", "", {kind: str(n)})
    elif kind == "power":
        room.send(sender, "m.room.power_levels", "", {"users": {ALICE: 100, target: n % 101}})
    elif kind in ("ban", "kick"):
        room.send_member(target, "ban" if kind == "ban" else "leave", sender=sender)
    elif kind in ("join", "leave"):
        room.send_member(sender, kind)
    else:
        room.send(sender, "m.room.join_rules", "", {"join_rule": ["public", "invite"][n % 2]})


def _branches(version: str, branch_actions: list[list[tuple[str, str, str, int]]]) -> tuple[Room, list[Room]]:
    room = Room(version, {ALICE: 100, BOB: 50, CAROL: 0})
    room.send_member(BOB, "join")
    room.send_member(CAROL, "join")
    branches = []
    for acts in branch_actions:
        branch = room.fork()
        for action in acts:
            _apply(branch, action)
        branches.append(branch)
    return room, branches


@settings(max_examples=60, deadline=None)
@given(
    version=st.sampled_from(["1", "10", "12"]),
    branch_actions=st.lists(st.lists(actions, max_size=4), min_size=2, max_size=3),
)
def test_resolution_does_not_depend_on_the_order_of_the_state_sets(version, branch_actions):
    room, branches = _branches(version, branch_actions)
    states = [b.state for b in branches]
    expected = resolve_state(room.version, states, room.events)
    for perm in itertools.permutations(states):
        assert resolve_state(room.version, list(perm), room.events) == expected


@settings(max_examples=30, deadline=None)
@given(version=st.sampled_from(["1", "10", "12"]), acts=st.lists(actions, max_size=5))
def test_a_single_state_set_resolves_to_itself(version, acts):
    room, (branch,) = _branches(version, [acts])
    assert resolve_state(room.version, [branch.state], room.events) == branch.state
    assert resolve_state(room.version, [branch.state, dict(branch.state)], room.events) == branch.state


def test_unconflicted_state_is_not_auth_checked(monkeypatch):
    room = Room("12", {ALICE: 100})
    for i in range(2000):
        room.send_member(f"@user{i}:many.example", "join")
    a, b = room.fork(), room.fork()
    a.send(ALICE, "m.room.topic", "", {"topic": "a"})
    tb = b.send(ALICE, "m.room.topic", "", {"topic": "b"})

    checked = []
    real = iterative_auth.check_auth_rules

    def counting(event, auth_events):
        checked.append(event.event_id)
        return real(event, auth_events)

    monkeypatch.setattr(iterative_auth, "check_auth_rules", counting)
    resolved = resolve_state(room.version, [a.state, b.state], room.events)
    assert resolved[("m.room.topic", "")] == tb.event_id
    assert len(resolved) == len(room.state) + 1
    assert len(checked) == 2
