"""Auth rules for m.room.power_levels changes, including v10's integer-only values and v12's
room creators."""

import pytest

from tests.protocol.auth_room import ALICE, ALL_VERSIONS, BOB, CAROL, MOD, AuthRoom
from tests.protocol.event_factory import EventFactory, state_map
from veche.protocol.auth_rules import AuthError, check_auth_rules
from veche.protocol.events import Event

PRE_V10 = [str(n) for n in range(1, 10)]


def allowed(room: AuthRoom, event: Event) -> bool:
    try:
        room.check(event)
    except AuthError:
        return False
    return True


def _users(version: str, **extra) -> dict:
    base = {MOD: 50} if version == "12" else {ALICE: 100, MOD: 50}
    return {**base, **extra}


def _pl(room: AuthRoom, sender: str, content: dict) -> Event:
    return room.state_event("m.room.power_levels", sender, "", content)


def _room(version: str, **content) -> AuthRoom:
    """A room where MOD (50) may send power levels, so the change rules are what decides."""
    content.setdefault("users", _users(version))
    content.setdefault("events", {"m.room.power_levels": 50})
    return AuthRoom(version, power_levels=content)


def _with(room: AuthRoom, **changes) -> dict:
    current = dict(room.state[("m.room.power_levels", "")].content)
    current.update(changes)
    return current


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_first_power_levels_event_may_set_anything(version):
    # With no previous power levels only the format rules apply, not the change rules.
    f = EventFactory(version)
    create = f.create(ALICE)
    join = f.member(ALICE, "join", auth_events=[create], prev_events=[create])
    state = state_map(create, join)
    content = {"users": {BOB: 1000}, "ban": 1000, "events": {"m.room.name": 1000}}
    check_auth_rules(f.state("m.room.power_levels", ALICE, "", content, auth_events=[create, join]), state)
    # Someone who is not the creator has level 0 < state_default 50.
    bob_join = f.member(BOB, "join")
    with pytest.raises(AuthError, match="power level"):
        check_auth_rules(f.state("m.room.power_levels", BOB, "", {}), {**state, bob_join.state_tuple: bob_join})


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_sender_needs_the_power_levels_event_level(version):
    room = _room(version)
    assert not allowed(room, _pl(room, BOB, _with(room)))
    assert allowed(room, _pl(room, MOD, _with(room)))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_cannot_raise_others_above_own_level(version):
    room = _room(version)
    assert allowed(room, _pl(room, MOD, _with(room, users=_users(version, **{BOB: 50}))))
    assert not allowed(room, _pl(room, MOD, _with(room, users=_users(version, **{BOB: 51}))))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_cannot_change_users_at_or_above_own_level(version):
    room = _room(version, users=_users(version, **{"@mod2:example.org": 50, BOB: 10}))
    users = _users(version, **{"@mod2:example.org": 10, BOB: 10})
    assert not allowed(room, _pl(room, MOD, _with(room, users=users)))  # demote a peer
    users = _users(version, **{"@mod2:example.org": 50})
    assert allowed(room, _pl(room, MOD, _with(room, users=users)))  # remove someone below
    users = _users(version, **{"@mod2:example.org": 50, BOB: 10})
    users[MOD] = 20
    assert allowed(room, _pl(room, MOD, _with(room, users=users)))  # demote oneself
    if version != "12":
        users = _users(version, **{"@mod2:example.org": 50, BOB: 10})
        del users[ALICE]
        assert not allowed(room, _pl(room, MOD, _with(room, users=users)))  # remove a superior


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize("key", ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"])
def test_top_level_levels(version, key):
    room = _room(version, **{key: 60} if key != "users_default" else {key: 0})
    if key != "users_default":
        # Current value above the sender: cannot touch it, not even lower it.
        assert not allowed(room, _pl(room, MOD, _with(room, **{key: 10})))
        removed = _with(room)
        del removed[key]
        assert not allowed(room, _pl(room, MOD, removed))
        assert allowed(room, _pl(room, ALICE, _with(room, **{key: 10})))
    room = _room(version)
    assert allowed(room, _pl(room, MOD, _with(room, **{key: 50})))  # added at own level
    assert not allowed(room, _pl(room, MOD, _with(room, **{key: 51})))  # added above own level


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_events_entries(version):
    room = _room(version, events={"m.room.power_levels": 50, "m.room.tombstone": 100, "m.room.topic": 20})
    base = dict(room.state[("m.room.power_levels", "")].content["events"])
    assert allowed(room, _pl(room, MOD, _with(room, events={**base, "m.room.topic": 50})))
    assert not allowed(room, _pl(room, MOD, _with(room, events={**base, "m.room.topic": 51})))
    assert allowed(room, _pl(room, MOD, _with(room, events={**base, "m.new": 40})))
    assert not allowed(room, _pl(room, MOD, _with(room, events={**base, "m.new": 60})))
    assert not allowed(room, _pl(room, MOD, _with(room, events={**base, "m.room.tombstone": 0})))
    without = {k: v for k, v in base.items() if k != "m.room.tombstone"}
    assert not allowed(room, _pl(room, MOD, _with(room, events=without)))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_notifications_are_limited_from_v6(version):
    room = _room(version, notifications={"room": 100})
    change = _pl(room, MOD, _with(room, notifications={"room": 0}))
    add_high = _pl(room, MOD, _with(room, notifications={"room": 100, "m.other": 99}))
    limited = room.rv.limit_notifications_power_levels
    assert allowed(room, change) != limited
    assert allowed(room, add_high) != limited


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_users_must_be_an_object_of_user_ids(version):
    room = _room(version)
    assert not allowed(room, _pl(room, MOD, _with(room, users=[MOD])))
    assert not allowed(room, _pl(room, MOD, _with(room, users={**_users(version), "bob": 0})))
    assert not allowed(room, _pl(room, MOD, _with(room, users={**_users(version), BOB: "high"})))
    assert not allowed(room, _pl(room, MOD, _with(room, users={**_users(version), BOB: None})))
    assert not allowed(room, _pl(room, MOD, _with(room, users={**_users(version), BOB: True})))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_stringy_values_only_before_v10(version):
    room = _room(version)
    for change in (
        {"users": _users(version, **{BOB: "10"})},
        {"ban": "40"},
        {"events": {"m.room.power_levels": 50, "m.x": "10"}},
        {"notifications": {"room": "10"}},
    ):
        assert allowed(room, _pl(room, MOD, _with(room, **change))) == (int(version) < 10), change


@pytest.mark.parametrize("version", ["10", "11", "12"])
def test_v10_rejects_non_integer_values_even_unchanged(version):
    room = _room(version)
    assert not allowed(room, _pl(room, MOD, _with(room, events=["m.x"])))
    assert not allowed(room, _pl(room, MOD, _with(room, notifications=5)))
    assert not allowed(room, _pl(room, MOD, _with(room, kick=None)))
    assert not allowed(room, _pl(room, MOD, _with(room, kick=True)))


@pytest.mark.parametrize("version", PRE_V10)
def test_stringy_value_spelt_differently_is_no_change(version):
    room = _room(version, ban="60")
    assert allowed(room, _pl(room, MOD, _with(room, ban=60)))
    assert allowed(room, _pl(room, MOD, _with(room, ban=" 060 ")))
    assert not allowed(room, _pl(room, MOD, _with(room, ban="59")))


@pytest.mark.parametrize("version", PRE_V10)
def test_malformed_stringy_value_cannot_be_compared(version):
    room = _room(version)
    assert not allowed(room, _pl(room, MOD, _with(room, ban="fifty")))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_float_user_levels_only_before_v6(version):
    room = _room(version)
    change = _pl(room, MOD, _with(room, users=_users(version, **{BOB: 50.57})))
    assert allowed(room, change) == (int(version) < 6)
    too_high = _pl(room, MOD, _with(room, users=_users(version, **{BOB: 51.2})))
    assert not allowed(room, too_high)


# --- v12 creators ---------------------------------------------------------------------------


def test_v12_creators_cannot_be_listed_in_users():
    room = AuthRoom("12", create_content={"additional_creators": [CAROL]}, members={MOD: "join", CAROL: "join"})
    current = dict(room.state[("m.room.power_levels", "")].content)
    assert not allowed(room, _pl(room, ALICE, {**current, "users": {MOD: 50, ALICE: 100}}))
    assert not allowed(room, _pl(room, ALICE, {**current, "users": {MOD: 50, CAROL: 100}}))
    assert allowed(room, _pl(room, CAROL, {**current, "users": {MOD: 100, BOB: 99}}))


def test_v12_initial_power_levels_listing_a_creator_is_rejected():
    with pytest.raises(AuthError, match="creators"):
        AuthRoom("12", power_levels={"users": {ALICE: 100}})


def test_v11_creator_may_be_listed():
    AuthRoom("11", power_levels={"users": {ALICE: 100}})


def test_v12_creator_has_unlimited_power():
    room = AuthRoom("12", power_levels={"users": {MOD: 2**53 - 1}, "ban": 2**53 - 1})
    content = {"users": {MOD: 0, BOB: 2**53 - 1}, "ban": 0, "events": {"m.room.power_levels": 2**53 - 1}}
    assert allowed(room, _pl(room, ALICE, content))


def test_v11_creator_is_bounded_by_own_level():
    room = AuthRoom("11", power_levels={"users": {ALICE: 100, MOD: 100}})
    assert not allowed(room, _pl(room, ALICE, {"users": {ALICE: 100, MOD: 0}}))
