"""HistoryVisibility over real rooms: each history_visibility value, late joiners and leavers."""

from __future__ import annotations

import pytest

from tests.api.reading_helpers import create_room, join, put_state, send, set_membership, timeline


def bodies(events):
    return [e.content.get("body") for e in events if e.type == "m.room.message"]


async def setup(http, homeserver, make_user, visibility):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": visibility})
    await send(http, alice, room_id, "before")
    return alice, bob, room_id


@pytest.mark.parametrize(
    ("visibility", "late_joiner_sees_before"),
    [("joined", False), ("invited", False), ("shared", True), ("world_readable", True)],
)
async def test_late_joiner(http, homeserver, make_user, visibility, late_joiner_sees_before):
    alice, bob, room_id = await setup(http, homeserver, make_user, visibility)
    await join(homeserver, room_id, bob.user_id)
    await send(http, alice, room_id, "after")
    events = await timeline(homeserver, room_id)
    seen = await homeserver.visibility.filter_events_for_user(bob.user_id, events)
    expected = ["before", "after"] if late_joiner_sees_before else ["after"]
    assert bodies(seen) == expected
    # Their own join is always visible.
    assert any(e.type == "m.room.member" and e.state_key == bob.user_id for e in seen)
    # The joined creator sees everything.
    assert await homeserver.visibility.filter_events_for_user(alice.user_id, events) == events


async def test_invited_sees_from_the_invite(http, homeserver, make_user):
    alice, bob, room_id = await setup(http, homeserver, make_user, "invited")
    await set_membership(homeserver, room_id, alice.user_id, bob.user_id, "invite")
    await send(http, alice, room_id, "while invited")
    events = await timeline(homeserver, room_id)
    seen = await homeserver.visibility.filter_events_for_user(bob.user_id, events)
    assert bodies(seen) == ["while invited"]


async def test_world_readable_for_strangers_and_peeking(http, homeserver, make_user):
    alice, bob, room_id = await setup(http, homeserver, make_user, "world_readable")
    events = await timeline(homeserver, room_id)
    assert bodies(await homeserver.visibility.filter_events_for_user(bob.user_id, events)) == ["before"]
    assert await homeserver.visibility.may_see_room(bob.user_id, room_id)


async def test_stranger_sees_nothing_of_a_shared_room(http, homeserver, make_user):
    alice, bob, room_id = await setup(http, homeserver, make_user, "shared")
    events = await timeline(homeserver, room_id)
    assert bodies(await homeserver.visibility.filter_events_for_user(bob.user_id, events)) == []
    assert not await homeserver.visibility.may_see_room(bob.user_id, room_id)


async def test_leaver_does_not_see_what_follows(http, homeserver, make_user):
    alice, bob, room_id = await setup(http, homeserver, make_user, "shared")
    await join(homeserver, room_id, bob.user_id)
    await send(http, alice, room_id, "while joined")
    await set_membership(homeserver, room_id, bob.user_id, bob.user_id, "leave")
    await send(http, alice, room_id, "after leaving")
    events = await timeline(homeserver, room_id)
    seen = await homeserver.visibility.filter_events_for_user(bob.user_id, events)
    assert bodies(seen) == ["before", "while joined"]
    leave = [e for e in seen if e.type == "m.room.member" and e.state_key == bob.user_id][-1]
    assert leave.membership == "leave"


async def test_history_visibility_change_is_visible_either_side(http, homeserver, make_user):
    alice, bob, room_id = await setup(http, homeserver, make_user, "joined")
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "world_readable"})
    await send(http, alice, room_id, "public now")
    events = await timeline(homeserver, room_id)
    seen = await homeserver.visibility.filter_events_for_user(bob.user_id, events)
    assert bodies(seen) == ["public now"]
    changes = [e.content["history_visibility"] for e in seen if e.type == "m.room.history_visibility"]
    assert changes == ["world_readable"]
