"""Space rules: child ordering (the spec's own example), links, and who sees what."""

from __future__ import annotations

from typing import Any

import pytest

from veche.protocol.room_versions import get_room_version
from veche.protocol.spaces import (
    may_see_in_hierarchy,
    order_children,
    room_summary,
    space_children,
)

from .event_factory import EventFactory, state_map

ALICE = "@alice:example.org"


def child(f: EventFactory, room_id: str, ts: int, **content: Any) -> Any:
    return f.state("m.space.child", ALICE, room_id, {"via": ["example.org"], **content}, origin_server_ts=ts)


def test_ordering_follows_the_spec_example() -> None:
    f = EventFactory("10")
    children = [
        child(f, "!b:example.org", 1640341000000, order=" "),
        child(f, "!a:example.org", 1640141000000, order="aaaa"),
        child(f, "!c:example.org", 1640841000000, order="first"),
        child(f, "!e:example.org", 1640641000000),
        child(f, "!d:example.org", 1640741000000),
    ]
    ordered = [e.state_key for e in order_children(reversed(children))]
    assert ordered == ["!b:example.org", "!a:example.org", "!c:example.org", "!e:example.org", "!d:example.org"]


def test_invalid_orders_count_as_missing_and_ties_break_on_room_id() -> None:
    f = EventFactory("10")
    children = [
        child(f, "!z:example.org", 5, order="x" * 51),
        child(f, "!y:example.org", 5, order="caf\u00e9"),
        child(f, "!x:example.org", 5, order=7),
        child(f, "!w:example.org", 9, order="m"),
    ]
    ordered = [e.state_key for e in order_children(children)]
    assert ordered == ["!w:example.org", "!x:example.org", "!y:example.org", "!z:example.org"]


def test_space_children_need_a_via_and_honour_suggested_only() -> None:
    f = EventFactory("10")
    create = f.create(ALICE, {"type": "m.space"})
    linked = child(f, "!a:example.org", 1)
    suggested = child(f, "!b:example.org", 2, suggested=True)
    removed = f.state("m.space.child", ALICE, "!c:example.org", {}, origin_server_ts=3)
    empty = f.state("m.space.child", ALICE, "!d:example.org", {"via": []}, origin_server_ts=4)
    state = state_map(create, linked, suggested, removed, empty)
    assert [e.state_key for e in space_children(state)] == ["!a:example.org", "!b:example.org"]
    assert [e.state_key for e in space_children(state, suggested_only=True)] == ["!b:example.org"]


@pytest.mark.parametrize(
    ("version", "join_rules", "membership", "joined", "visible"),
    [
        ("10", {"join_rule": "public"}, None, set(), True),
        ("10", {"join_rule": "public"}, "ban", set(), False),
        ("10", {"join_rule": "invite"}, None, set(), False),
        ("10", {"join_rule": "invite"}, "invite", set(), True),
        ("10", {"join_rule": "invite"}, "join", set(), True),
        ("10", {"join_rule": "knock"}, None, set(), True),
        ("6", {"join_rule": "knock"}, None, set(), False),
        ("10", {"join_rule": "knock_restricted"}, None, set(), True),
        ("10", {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!s:x"}]},
         None, {"!s:x"}, True),
        ("10", {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!s:x"}]},
         None, {"!t:x"}, False),
        ("7", {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!s:x"}]},
         None, {"!s:x"}, False),
    ],
)
def test_who_sees_a_room(
    version: str, join_rules: dict[str, Any], membership: str | None, joined: set[str], visible: bool
) -> None:
    f = EventFactory(version)
    state = state_map(f.create(ALICE), f.state("m.room.join_rules", ALICE, "", join_rules))
    assert may_see_in_hierarchy(get_room_version(version), state, membership, joined) is visible


def test_world_readable_rooms_are_visible_to_all() -> None:
    f = EventFactory("10")
    state = state_map(
        f.create(ALICE),
        f.state("m.room.join_rules", ALICE, "", {"join_rule": "invite"}),
        f.state("m.room.history_visibility", ALICE, "", {"history_visibility": "world_readable"}),
    )
    assert may_see_in_hierarchy(get_room_version("10"), state, None, set())


def test_room_summary() -> None:
    f = EventFactory("10")
    state = state_map(
        f.create(ALICE, {"type": "m.space"}),
        f.state("m.room.join_rules", ALICE, "", {"join_rule": "public"}),
        f.state("m.room.name", ALICE, "", {"name": "Space"}),
        f.state("m.room.topic", ALICE, "", {"topic": 5}),
        f.state("m.room.avatar", ALICE, "", {"url": "mxc://example.org/a"}),
        f.state("m.room.guest_access", ALICE, "", {"guest_access": "can_join"}),
        f.state("m.room.encryption", ALICE, "", {"algorithm": "m.megolm.v1.aes-sha2"}),
    )
    assert room_summary("!r:example.org", get_room_version("10"), state, 3) == {
        "room_id": "!r:example.org",
        "num_joined_members": 3,
        "world_readable": False,
        "guest_can_join": True,
        "join_rule": "public",
        "room_version": "10",
        "name": "Space",
        "avatar_url": "mxc://example.org/a",
        "room_type": "m.space",
        "encryption": "m.megolm.v1.aes-sha2",
    }
