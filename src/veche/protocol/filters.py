"""Event filters for /sync, /messages and /context (spec: client-server-api "Filtering",
data/api/client-server/definitions/sync_filter.yaml, event_filter.yaml, room_event_filter.yaml).

`parse_filter` validates a filter definition once; the resulting objects answer
"does this event pass?" with no further parsing on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson


class FilterError(ValueError):
    """The filter definition is malformed; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    limit: int | None = None
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()
    senders: frozenset[str] | None = None
    not_senders: frozenset[str] = frozenset()

    def matches_type_and_sender(self, event_type: str, sender: str | None) -> bool:
        if sender is not None:
            if sender in self.not_senders:
                return False
            if self.senders is not None and sender not in self.senders:
                return False
        if self.not_types and _type_pattern(self.not_types).fullmatch(event_type):
            return False
        if self.types is not None and not (self.types and _type_pattern(self.types).fullmatch(event_type)):
            return False
        return True

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self.matches_type_and_sender(event.get("type", ""), event.get("sender"))


@dataclass(frozen=True, slots=True)
class RoomEventFilter(EventFilter):
    rooms: frozenset[str] | None = None
    not_rooms: frozenset[str] = frozenset()
    contains_url: bool | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False
    unread_thread_notifications: bool = False

    def matches_room(self, room_id: str) -> bool:
        if room_id in self.not_rooms:
            return False
        return self.rooms is None or room_id in self.rooms

    def matches(self, event: Mapping[str, Any]) -> bool:
        if not self.matches_type_and_sender(event.get("type", ""), event.get("sender")):
            return False
        room_id = event.get("room_id")
        if room_id is not None and not self.matches_room(room_id):
            return False
        if self.contains_url is not None:
            content = event.get("content")
            has_url = isinstance(content, dict) and isinstance(content.get("url"), str)
            if has_url != self.contains_url:
                return False
        return True


@dataclass(frozen=True, slots=True)
class RoomFilter:
    rooms: frozenset[str] | None = None
    not_rooms: frozenset[str] = frozenset()
    include_leave: bool = False
    timeline: RoomEventFilter = field(default_factory=RoomEventFilter)
    state: RoomEventFilter = field(default_factory=RoomEventFilter)
    ephemeral: RoomEventFilter = field(default_factory=RoomEventFilter)
    account_data: RoomEventFilter = field(default_factory=RoomEventFilter)

    def matches_room(self, room_id: str) -> bool:
        if room_id in self.not_rooms:
            return False
        return self.rooms is None or room_id in self.rooms


@dataclass(frozen=True, slots=True)
class Filter:
    event_fields: tuple[str, ...] | None = None
    event_format: str = "client"
    presence: EventFilter = field(default_factory=EventFilter)
    account_data: EventFilter = field(default_factory=EventFilter)
    room: RoomFilter = field(default_factory=RoomFilter)


DEFAULT_FILTER = Filter()


def parse_filter(definition: Any) -> Filter:
    if not isinstance(definition, dict):
        raise FilterError("filter must be a JSON object")
    event_fields = _optional_list(definition, "event_fields", "filter")
    if event_fields is not None:
        for path in event_fields:
            if not path or path.startswith(".") or path.endswith("."):
                raise FilterError(f"event_fields entry {path!r} is not a dot-separated path")
    event_format = definition.get("event_format", "client")
    if event_format not in ("client", "federation"):
        raise FilterError("event_format must be 'client' or 'federation'")
    return Filter(
        event_fields=tuple(event_fields) if event_fields is not None else None,
        event_format=event_format,
        presence=_event_filter(definition.get("presence"), "presence"),
        account_data=_event_filter(definition.get("account_data"), "account_data"),
        room=_room_filter(definition.get("room")),
    )


@lru_cache(maxsize=256)
def parse_filter_json(text: str) -> Filter:
    """`parse_filter` of a filter given as JSON text. A long-polling client sends the same
    inline filter with every /sync, so the parsed (immutable) filter is kept.

    Raises orjson.JSONDecodeError for text that is not JSON, FilterError for a bad filter.
    """
    return parse_filter(orjson.loads(text))


def parse_room_event_filter(definition: Any, where: str = "filter") -> RoomEventFilter:
    """A RoomEventFilter as /messages and /context take it in their `filter` parameter."""
    return _room_event_filter(definition, where)


def _room_filter(definition: Any) -> RoomFilter:
    if definition is None:
        return RoomFilter()
    if not isinstance(definition, dict):
        raise FilterError("room must be an object")
    rooms = _optional_list(definition, "rooms", "room")
    return RoomFilter(
        rooms=frozenset(rooms) if rooms is not None else None,
        not_rooms=frozenset(_optional_list(definition, "not_rooms", "room") or ()),
        include_leave=_optional_bool(definition, "include_leave", "room") or False,
        timeline=_room_event_filter(definition.get("timeline"), "room.timeline"),
        state=_room_event_filter(definition.get("state"), "room.state"),
        ephemeral=_room_event_filter(definition.get("ephemeral"), "room.ephemeral"),
        account_data=_room_event_filter(definition.get("account_data"), "room.account_data"),
    )


def _event_filter_fields(definition: dict[str, Any], where: str) -> dict[str, Any]:
    limit = definition.get("limit")
    if limit is not None and (type(limit) is not int or limit <= 0):
        raise FilterError(f"{where}.limit must be an integer greater than 0")
    types = _optional_list(definition, "types", where)
    senders = _optional_list(definition, "senders", where)
    return {
        "limit": limit,
        "types": tuple(types) if types is not None else None,
        "not_types": tuple(_optional_list(definition, "not_types", where) or ()),
        "senders": frozenset(senders) if senders is not None else None,
        "not_senders": frozenset(_optional_list(definition, "not_senders", where) or ()),
    }


def _event_filter(definition: Any, where: str) -> EventFilter:
    if definition is None:
        return EventFilter()
    if not isinstance(definition, dict):
        raise FilterError(f"{where} must be an object")
    return EventFilter(**_event_filter_fields(definition, where))


def _room_event_filter(definition: Any, where: str) -> RoomEventFilter:
    if definition is None:
        return RoomEventFilter()
    if not isinstance(definition, dict):
        raise FilterError(f"{where} must be an object")
    rooms = _optional_list(definition, "rooms", where)
    contains_url = definition.get("contains_url")
    if contains_url is not None and not isinstance(contains_url, bool):
        raise FilterError(f"{where}.contains_url must be a boolean")
    return RoomEventFilter(
        **_event_filter_fields(definition, where),
        rooms=frozenset(rooms) if rooms is not None else None,
        not_rooms=frozenset(_optional_list(definition, "not_rooms", where) or ()),
        contains_url=contains_url,
        lazy_load_members=_optional_bool(definition, "lazy_load_members", where) or False,
        include_redundant_members=_optional_bool(definition, "include_redundant_members", where) or False,
        unread_thread_notifications=_optional_bool(definition, "unread_thread_notifications", where)
        or False,
    )


def _optional_list(definition: Mapping[str, Any], key: str, where: str) -> list[str] | None:
    value = definition.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FilterError(f"{where}.{key} must be a list of strings")
    return value


def _optional_bool(definition: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = definition.get(key)
    if value is not None and not isinstance(value, bool):
        raise FilterError(f"{where}.{key} must be a boolean")
    return value


@lru_cache(maxsize=1024)
def _type_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # `*` matches any sequence of characters; everything else is literal.
    return re.compile("|".join(".*".join(map(re.escape, p.split("*"))) for p in patterns))


def project_event_fields(event: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Keep only the dot-separated `paths` of `event` (appendices: dot-separated paths).

    A backslash escapes a literal dot or backslash inside a key.
    """
    result: dict[str, Any] = {}
    for path in paths:
        keys = _split_path(path)
        source: Any = event
        for key in keys:
            if not isinstance(source, dict) or key not in source:
                break
            source = source[key]
        else:
            target = result
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = source
    return result


def _split_path(path: str) -> list[str]:
    keys, current, escaped = [], [], False
    for char in path:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            keys.append("".join(current))
            current = []
        else:
            current.append(char)
    keys.append("".join(current))
    return keys
