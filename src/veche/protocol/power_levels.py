"""Power levels: who may do what in a room (m.room.power_levels).

Defaults come from the event schema (spec/data/event-schemas/schema/m.room.power_levels.yaml)
and the "Definitions" of server-server-api.md. Legacy value encodings (strings, floats) are
accepted only in the room versions that allow them (rooms/fragments/v1-stringy-power-levels.md,
v1-floaty-power-levels.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from veche.protocol.events import Event
from veche.protocol.room_versions import RoomVersion

USERS_DEFAULT = 0
EVENTS_DEFAULT = 0
STATE_DEFAULT = 50
# Level a creator has when the room has no m.room.power_levels event (v1–v11).
CREATOR_LEVEL_WITHOUT_POWER_LEVELS = 100

NAMED_LEVEL_DEFAULTS: Mapping[str, int] = {"ban": 50, "kick": 50, "redact": 50, "invite": 0}
NOTIFICATION_LEVEL_DEFAULTS: Mapping[str, int] = {"room": 50}

# The top-level integer properties of m.room.power_levels content.
LEVEL_KEYS = ("users_default", "events_default", "state_default", "ban", "redact", "kick", "invite")

# The stringy fragment's grammar: optional ASCII whitespace, one sign, decimal digits.
# Python's int() alone would also take underscores and non-ASCII digits.
_STRINGY_INT = re.compile(r"[ \t\n\r\f\v]*[+-]?[0-9]+[ \t\n\r\f\v]*")


class InvalidPowerLevel(ValueError):
    """A power level value that the room version does not accept."""


def parse_power_level_value(value: Any, room_version: RoomVersion) -> int:
    """Turn a power level value from event content into an int, per the room version.

    Integers are always accepted. Before v10, strings holding an integer are too; before v6
    (no canonical JSON), finite floats are truncated toward zero.
    """
    if isinstance(value, bool):
        raise InvalidPowerLevel(f"{value!r} is a boolean, not a power level")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and not room_version.enforce_int_power_levels:
        if _STRINGY_INT.fullmatch(value):
            try:
                return int(value.strip(" \t\n\r\f\v"))
            except ValueError:  # beyond Python's int-from-string digit limit
                raise InvalidPowerLevel(f"{value[:20]!r}… is too long") from None
        raise InvalidPowerLevel(f"{value!r} is not an integer string")
    if isinstance(value, float) and not room_version.strict_canonical_json:
        if not math.isfinite(value):
            raise InvalidPowerLevel(f"{value!r} is not a finite number")
        return math.trunc(value)
    raise InvalidPowerLevel(f"{value!r} is not a valid power level in room version {room_version.identifier}")


def room_creators(create_event: Event) -> frozenset[str]:
    """The room's creators according to its m.room.create event and room version.

    v1–v10: `content.creator`; v11: the sender; v12+: the sender plus
    `content.additional_creators`.
    """
    rv = create_event.room_version
    if rv.privileged_creators:
        extra = create_event.content.get("additional_creators")
        others = [u for u in extra if isinstance(u, str)] if isinstance(extra, list) else []
        return frozenset([create_event.sender, *others])
    if rv.implicit_room_creator:
        return frozenset([create_event.sender])
    creator = create_event.content.get("creator")
    return frozenset([creator]) if isinstance(creator, str) else frozenset()


def get_user_power_level(
    user_id: str, power_levels: Event | None, create: Event | None
) -> int | float:
    """The user's power level; `math.inf` for the creators of a v12+ room."""
    if create is not None and create.room_version.privileged_creators:
        if user_id in room_creators(create):
            return math.inf
    if power_levels is None:
        if create is not None and not create.room_version.privileged_creators:
            if user_id in room_creators(create):
                return CREATOR_LEVEL_WITHOUT_POWER_LEVELS
        return USERS_DEFAULT
    content = power_levels.content
    users = content.get("users")
    if isinstance(users, Mapping) and user_id in users:
        return _level_or(users[user_id], USERS_DEFAULT, power_levels.room_version)
    return _level_or(content.get("users_default"), USERS_DEFAULT, power_levels.room_version)


def get_required_event_level(
    event_type: str, state_key_present: bool, power_levels: Event | None
) -> int:
    """The level needed to send an event of this type (`events`, else the defaults)."""
    if power_levels is None:
        return STATE_DEFAULT if state_key_present else EVENTS_DEFAULT
    content = power_levels.content
    rv = power_levels.room_version
    events = content.get("events")
    if isinstance(events, Mapping) and event_type in events:
        default = STATE_DEFAULT if state_key_present else EVENTS_DEFAULT
        return _level_or(events[event_type], default, rv)
    if state_key_present:
        return _level_or(content.get("state_default"), STATE_DEFAULT, rv)
    return _level_or(content.get("events_default"), EVENTS_DEFAULT, rv)


def get_named_level(name: str, power_levels: Event | None) -> int:
    """The `ban`, `kick`, `redact` or `invite` level, with the spec's defaults."""
    default = NAMED_LEVEL_DEFAULTS[name]
    if power_levels is None:
        return default
    return _level_or(power_levels.content.get(name), default, power_levels.room_version)


def get_notification_level(key: str, power_levels: Event | None) -> int:
    """The level needed to trigger a notification of this key (e.g. "room" for @room).

    The spec gives a default only for "room" (50); other unspecified keys also use 50,
    the conservative choice.
    """
    default = NOTIFICATION_LEVEL_DEFAULTS.get(key, NOTIFICATION_LEVEL_DEFAULTS["room"])
    if power_levels is None:
        return default
    notifications = power_levels.content.get("notifications")
    if not isinstance(notifications, Mapping):
        return default
    return _level_or(notifications.get(key), default, power_levels.room_version)


def _level_or(value: Any, default: int, room_version: RoomVersion) -> int:
    # An accepted event can still hold a malformed level in versions before v10 (the auth
    # rules only validated `users` there); such a value counts as unspecified.
    if value is None:
        return default
    try:
        return parse_power_level_value(value, room_version)
    except InvalidPowerLevel:
        return default
