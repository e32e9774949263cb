import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol.event_factory import EventFactory
from veche.protocol.power_levels import (
    InvalidPowerLevel,
    get_named_level,
    get_notification_level,
    get_required_event_level,
    get_user_power_level,
    parse_power_level_value,
    room_creators,
)
from veche.protocol.room_versions import get_room_version

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
CAROL = "@carol:other.org"
ALL_VERSIONS = [str(n) for n in range(1, 13)]


def _room(version: str, create_content=None):
    f = EventFactory(version)
    create = f.create(ALICE, create_content)
    return f, create


# --- parse_power_level_value -------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_integers_are_always_accepted(version):
    rv = get_room_version(version)
    assert parse_power_level_value(100, rv) == 100
    assert parse_power_level_value(-5, rv) == -5


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_booleans_are_never_levels(version):
    with pytest.raises(InvalidPowerLevel):
        parse_power_level_value(True, get_room_version(version))


@pytest.mark.parametrize(
    "text,value",
    [("100", 100), ("000100", 100), ("+100", 100), ("-100", -100), (" 100 ", 100), (" 00100 ", 100),
     (" +100 ", 100), (" -100 ", -100)],
)
def test_stringy_examples_from_the_spec(text, value):
    # rooms/fragments/v1-stringy-power-levels.md, accepted in v1–v9.
    for version in map(str, range(1, 10)):
        assert parse_power_level_value(text, get_room_version(version)) == value


@pytest.mark.parametrize("text", ["1.5", "1e3", "", " ", "+-1", "1_000", "١٠٠", "0x10", "abc"])
def test_malformed_strings_are_rejected(text):
    with pytest.raises(InvalidPowerLevel):
        parse_power_level_value(text, get_room_version("9"))


@pytest.mark.parametrize("version", ["10", "11", "12"])
def test_strings_rejected_from_v10(version):
    with pytest.raises(InvalidPowerLevel):
        parse_power_level_value("50", get_room_version(version))


def test_floats_truncate_before_v6():
    # rooms/fragments/v1-floaty-power-levels.md: 5.114698E4 -> 51146, 50.57 -> 50.
    rv = get_room_version("5")
    assert parse_power_level_value(5.114698e4, rv) == 51146
    assert parse_power_level_value(50.57, rv) == 50
    assert parse_power_level_value(-1.5, rv) == -1
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(InvalidPowerLevel):
            parse_power_level_value(bad, rv)


@pytest.mark.parametrize("version", ["6", "9", "12"])
def test_floats_rejected_from_v6(version):
    with pytest.raises(InvalidPowerLevel):
        parse_power_level_value(50.0, get_room_version(version))


@given(st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1))
def test_stringy_round_trip(n):
    assert parse_power_level_value(f" {n} ", get_room_version("1")) == n


# --- room_creators --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [str(n) for n in range(1, 11)])
def test_creator_from_content_before_v11(version):
    f = EventFactory(version)
    create = f.create(ALICE, {"creator": BOB})
    assert room_creators(create) == {BOB}


def test_creator_is_sender_in_v11():
    _, create = _room("11", {"additional_creators": [BOB]})
    assert room_creators(create) == {ALICE}


def test_creators_include_additional_creators_in_v12():
    _, create = _room("12", {"additional_creators": [BOB, CAROL]})
    assert room_creators(create) == {ALICE, BOB, CAROL}


# --- get_user_power_level -------------------------------------------------------------------


@pytest.mark.parametrize("version", [str(n) for n in range(1, 12)])
def test_without_power_levels_creator_has_100(version):
    _, create = _room(version)
    assert get_user_power_level(ALICE, None, create) == 100
    assert get_user_power_level(BOB, None, create) == 0
    assert get_user_power_level(ALICE, None, None) == 0


def test_v12_creators_are_infinite_with_or_without_power_levels():
    f, create = _room("12", {"additional_creators": [BOB]})
    pl = f.state("m.room.power_levels", ALICE, "", {"users": {CAROL: 50}, "users_default": 10})
    for power_levels in (None, pl):
        assert get_user_power_level(ALICE, power_levels, create) == math.inf
        assert get_user_power_level(BOB, power_levels, create) == math.inf
    assert get_user_power_level(CAROL, pl, create) == 50
    assert get_user_power_level("@dave:example.org", pl, create) == 10
    assert get_user_power_level("@dave:example.org", None, create) == 0


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_users_then_users_default(version):
    f, create = _room(version)
    pl = f.state("m.room.power_levels", ALICE, "", {"users": {BOB: 75}, "users_default": 5})
    assert get_user_power_level(BOB, pl, create) == 75
    assert get_user_power_level(CAROL, pl, create) == 5
    bare = f.state("m.room.power_levels", ALICE, "", {"users": {}})
    assert get_user_power_level(CAROL, bare, create) == 0


def test_stringy_user_level_is_read_in_v9():
    f, create = _room("9")
    pl = f.state("m.room.power_levels", ALICE, "", {"users": {BOB: " 42 "}})
    assert get_user_power_level(BOB, pl, create) == 42


# --- required and named levels ---------------------------------------------------------------


def test_required_levels_defaults_without_power_levels():
    assert get_required_event_level("m.room.message", False, None) == 0
    assert get_required_event_level("m.room.topic", True, None) == 50


def test_required_levels_from_events_then_defaults():
    f, _ = _room("10")
    pl = f.state(
        "m.room.power_levels",
        ALICE,
        "",
        {"events": {"m.room.topic": 10, "m.custom": 70}, "events_default": 1, "state_default": 60},
    )
    assert get_required_event_level("m.room.topic", True, pl) == 10
    assert get_required_event_level("m.custom", False, pl) == 70
    assert get_required_event_level("m.room.message", False, pl) == 1
    assert get_required_event_level("m.room.name", True, pl) == 60
    empty = f.state("m.room.power_levels", ALICE, "", {})
    assert get_required_event_level("m.room.message", False, empty) == 0
    assert get_required_event_level("m.room.name", True, empty) == 50


def test_named_level_defaults():
    assert {n: get_named_level(n, None) for n in ("ban", "kick", "redact", "invite")} == {
        "ban": 50, "kick": 50, "redact": 50, "invite": 0,
    }
    assert get_notification_level("room", None) == 50


def test_named_levels_from_content():
    f, _ = _room("8")
    pl = f.state(
        "m.room.power_levels", ALICE, "",
        {"ban": 40, "kick": "30", "invite": 5, "notifications": {"room": 20}},
    )
    assert get_named_level("ban", pl) == 40
    assert get_named_level("kick", pl) == 30
    assert get_named_level("redact", pl) == 50
    assert get_named_level("invite", pl) == 5
    assert get_notification_level("room", pl) == 20


def test_malformed_stored_value_falls_back_to_default():
    # Pre-v10 auth rules only validated `users`, so stored events may hold garbage elsewhere.
    f, _ = _room("9")
    pl = f.state("m.room.power_levels", ALICE, "", {"ban": "lots", "events": {"m.x": [1]}})
    assert get_named_level("ban", pl) == 50
    assert get_required_event_level("m.x", False, pl) == 0


def test_absurdly_long_integer_string_is_invalid_not_a_crash():
    with pytest.raises(InvalidPowerLevel):
        parse_power_level_value("9" * 5000, get_room_version("1"))
