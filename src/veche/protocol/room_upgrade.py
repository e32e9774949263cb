"""What a room upgrade writes (spec: client-server-api/modules/room_upgrades.md "Server behaviour").

Pure planning: the replacement room's create content, the power levels it starts and ends
with, the state copied across, and the restricted power levels of the old room. Sending the
events is the service's job.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from veche.protocol.power_levels import LEVEL_KEYS, InvalidPowerLevel, parse_power_level_value
from veche.protocol.room_versions import RoomVersion

# room_upgrades.md step 3: the recommended state to replicate, in the order it is sent.
TRANSFERABLE_STATE = (
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
)
TOMBSTONE_BODY = "This room has been replaced"
# The power level key of m.room.power_levels itself.
POWER_LEVELS = "m.room.power_levels"


def replacement_create_content(
    old_create: Mapping[str, Any],
    old_room_id: str,
    last_event_id: str | None,
    new_version: RoomVersion,
    upgrader: str,
    additional_creators: Collection[str],
) -> dict[str, Any]:
    """Step 2: predecessor, room_version, the old room's `type` (and `m.federate`)."""
    predecessor: dict[str, Any] = {"room_id": old_room_id}
    # v1.16: a v12+ replacement may omit event_id; older versions expect it.
    if last_event_id is not None and not new_version.room_id_from_create_event:
        predecessor["event_id"] = last_event_id
    content: dict[str, Any] = {"room_version": new_version.identifier, "predecessor": predecessor}
    for key in ("type", "m.federate"):
        if key in old_create:
            content[key] = old_create[key]
    if not new_version.implicit_room_creator:
        content["creator"] = upgrader
    if new_version.privileged_creators and additional_creators:
        content["additional_creators"] = list(dict.fromkeys(additional_creators))
    return content


def normalised_power_levels(content: Mapping[str, Any], old_version: RoomVersion) -> dict[str, Any]:
    """Power level content with every level as an int (v10+ refuse the older stringy forms)."""

    def level(value: Any) -> int | None:
        try:
            return parse_power_level_value(value, old_version)
        except InvalidPowerLevel:
            return None

    out = dict(content)
    for key in LEVEL_KEYS:
        if key in out:
            parsed = level(out[key])
            if parsed is None:
                del out[key]
            else:
                out[key] = parsed
    for key in ("users", "events", "notifications"):
        mapping = out.get(key)
        if isinstance(mapping, Mapping):
            out[key] = {k: v for k, v in ((k, level(v)) for k, v in mapping.items()) if v is not None}
        elif key in out:
            del out[key]
    return out


def highest_required_level(power_levels: Mapping[str, Any]) -> int:
    """The level that lets a user do everything these power levels gate."""
    levels = [power_levels.get(key, 0) for key in LEVEL_KEYS if key != "users_default"]
    levels += list(power_levels.get("events", {}).values())
    levels.append(100)
    return max(v for v in levels if isinstance(v, int))


def replacement_power_levels(
    old: Mapping[str, Any],
    upgrader_old_level: int | float,
    upgrader: str,
    old_creators: Collection[str],
    new_version: RoomVersion,
    new_creators: Collection[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(initial, final) power levels of the replacement room.

    `old` must be normalised. The initial content lets the upgrader send everything the
    upgrade copies; the final one is the old room's, adjusted to the new version's creators.
    """
    final = {**old, "users": dict(old.get("users", {}))}
    users: dict[str, int] = final["users"]
    needed = highest_required_level(final)
    if new_version.privileged_creators:
        # v12 auth rules refuse power levels that list a creator.
        for creator in new_creators:
            users.pop(creator, None)
        return final, final
    if math.isinf(upgrader_old_level):
        # Creators of a v12+ room lose their unbounded power: make them the top admins.
        for creator in {*old_creators, upgrader}:
            users[creator] = max(users.get(creator, 0), needed)
        return final, final
    if upgrader_old_level >= needed:
        return final, final
    initial = {**final, "users": {**users, upgrader: needed}}
    return initial, final


def transferred_content(
    event_type: str, content: Mapping[str, Any], old_room_id: str, new_room_id: str
) -> dict[str, Any]:
    """The content copied to the new room; a restricted join rule that admits the old room's
    members admits the new room's instead."""
    copied = dict(content)
    if event_type == "m.room.join_rules" and isinstance(copied.get("allow"), list):
        copied["allow"] = [
            {**entry, "room_id": new_room_id}
            if isinstance(entry, dict) and entry.get("room_id") == old_room_id
            else entry
            for entry in copied["allow"]
        ]
    return copied


def restricted_old_power_levels(old: Mapping[str, Any]) -> dict[str, Any] | None:
    """Step 6: the old room's power levels with events_default and invite raised to the greater
    of 50 and users_default + 1; None when they already are at least that high."""
    users_default = old.get("users_default", 0)
    floor = max(50, (users_default if isinstance(users_default, int) else 0) + 1)
    restricted = dict(old)
    changed = False
    for key, default in (("events_default", 0), ("invite", 0)):
        value = old.get(key, default)
        if not isinstance(value, int) or value < floor:
            restricted[key] = floor
            changed = True
    return restricted if changed else None
