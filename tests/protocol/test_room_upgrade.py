"""Planning room upgrades (modules/room_upgrades.md "Server behaviour")."""

from __future__ import annotations

import math

from veche.protocol.room_upgrade import (
    normalised_power_levels,
    replacement_create_content,
    replacement_power_levels,
    restricted_old_power_levels,
    transferred_content,
)
from veche.protocol.room_versions import get_room_version

V1, V10, V11, V12 = (get_room_version(v) for v in ("1", "10", "11", "12"))


def test_create_content_per_version():
    old = {"creator": "@a:x", "room_version": "9", "type": "m.space", "m.federate": False, "other": 1}
    assert replacement_create_content(old, "!old:x", "$last", V10, "@a:x", ["@b:x"]) == {
        "room_version": "10",
        "predecessor": {"room_id": "!old:x", "event_id": "$last"},
        "type": "m.space",
        "m.federate": False,
        "creator": "@a:x",
    }
    assert replacement_create_content({}, "!old:x", "$last", V11, "@a:x", []) == {
        "room_version": "11",
        "predecessor": {"room_id": "!old:x", "event_id": "$last"},
    }
    assert replacement_create_content({}, "!old:x", "$last", V12, "@a:x", ["@b:x", "@b:x"]) == {
        "room_version": "12",
        "predecessor": {"room_id": "!old:x"},
        "additional_creators": ["@b:x"],
    }


def test_normalising_legacy_levels():
    content = {"ban": "50", "users": {"@a:x": "100", "@b:x": "junk"}, "events": {"m.room.name": 50.0}, "kick": True}
    assert normalised_power_levels(content, V1) == {"ban": 50, "users": {"@a:x": 100}, "events": {"m.room.name": 50}}


def test_power_levels_to_v12_drop_the_creators():
    old = {"users": {"@a:x": 100, "@b:x": 100, "@c:x": 50}, "state_default": 50}
    initial, final = replacement_power_levels(old, 100, "@a:x", {"@a:x"}, V12, {"@a:x", "@b:x"})
    assert initial == final == {"users": {"@c:x": 50}, "state_default": 50}


def test_power_levels_from_v12_make_the_creators_admins():
    old = {"users": {"@c:x": 50}, "events": {"m.room.tombstone": 150}}
    initial, final = replacement_power_levels(old, math.inf, "@a:x", {"@a:x", "@b:x"}, V11, {"@a:x"})
    assert initial == final
    assert final["users"] == {"@a:x": 150, "@b:x": 150, "@c:x": 50}


def test_upgrader_gets_enough_power_only_while_copying():
    old = {"users": {"@a:x": 60}, "events": {"m.room.tombstone": 50, "m.room.power_levels": 100}}
    initial, final = replacement_power_levels(old, 60, "@a:x", set(), V11, {"@a:x"})
    assert initial["users"]["@a:x"] == 100
    assert final == old


def test_restricted_join_rule_follows_the_room():
    content = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!old:x"}, "junk"]}
    assert transferred_content("m.room.join_rules", content, "!old:x", "!new:x")["allow"] == [
        {"type": "m.room_membership", "room_id": "!new:x"},
        "junk",
    ]
    assert transferred_content("m.room.name", {"name": "n"}, "!old:x", "!new:x") == {"name": "n"}


def test_old_room_power_levels_are_restricted():
    assert restricted_old_power_levels({"users_default": 0, "events_default": 0, "invite": 0}) == {
        "users_default": 0,
        "events_default": 50,
        "invite": 50,
    }
    assert restricted_old_power_levels({"users_default": 60})["events_default"] == 61
    assert restricted_old_power_levels({"events_default": 50, "invite": 75}) is None
