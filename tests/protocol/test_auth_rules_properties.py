"""Properties of the auth rules over arbitrary event content (hypothesis)."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.auth_room import ALICE, ALL_VERSIONS, BOB, MOD, AuthRoom
from veche.protocol.auth_rules import AuthError, check_auth_rules
from veche.protocol.power_levels import get_user_power_level

json_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
levels = st.integers(-100, 200) | st.sampled_from(["10", " 75 ", "x", 50.5, None, [], {}])
user_ids = st.sampled_from([ALICE, MOD, BOB, "@carol:other.org", "bad", ""])
pl_content = st.fixed_dictionaries(
    {},
    optional={
        "users": st.dictionaries(user_ids, levels, max_size=4) | json_values,
        "users_default": levels,
        "events_default": levels,
        "state_default": levels,
        "ban": levels,
        "kick": levels,
        "redact": levels,
        "invite": levels,
        "events": st.dictionaries(st.sampled_from(["m.room.power_levels", "m.room.name", "m.x"]), levels, max_size=3)
        | json_values,
        "notifications": st.dictionaries(st.sampled_from(["room", "other"]), levels, max_size=2) | json_values,
    },
)
member_content = st.fixed_dictionaries(
    {},
    optional={
        "membership": st.sampled_from(["join", "invite", "leave", "ban", "knock", "x"]) | json_values,
        "join_authorised_via_users_server": user_ids | json_values,
        "third_party_invite": json_values
        | st.fixed_dictionaries({"signed": st.dictionaries(st.sampled_from(["mxid", "token", "signatures"]), json_values)}),
    },
)
ROOMS = {v: AuthRoom(v, join_rule="public") for v in ALL_VERSIONS}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_VERSIONS), st.sampled_from([ALICE, MOD, BOB]), pl_content)
def test_power_levels_never_crash_and_never_exceed_sender(version, sender, content):
    room = ROOMS[version]
    event = room.state_event("m.room.power_levels", sender, "", content)
    try:
        check_auth_rules(event, room.state)
    except AuthError:
        return
    # Whatever is accepted, no user other than the sender ends above the sender's level.
    create, old = room.create, room.state[("m.room.power_levels", "")]
    sender_level = get_user_power_level(sender, old, create)
    for user in (ALICE, MOD, BOB, "@carol:other.org"):
        if user != sender and get_user_power_level(user, event, create) != get_user_power_level(user, old, create):
            assert get_user_power_level(user, event, create) <= sender_level
    assert sender_level == math.inf or sender_level >= 50


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_VERSIONS), st.sampled_from([ALICE, MOD, BOB, "@carol:other.org"]), user_ids, member_content)
def test_membership_never_crashes(version, sender, target, content):
    room = ROOMS[version]
    event = room.state_event("m.room.member", sender, target, content)
    try:
        check_auth_rules(event, room.state)
    except AuthError:
        pass
