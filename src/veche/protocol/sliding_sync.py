"""Simplified sliding sync (MSC4186, spec/msc/4186-simplified-sliding-sync.md): the request's
rules, free of I/O.

`parse_request` validates a request body once; the objects it returns answer "which state
does this room config want?", "does this room pass the list's filters?" and "which rooms
fall in the list's window?".

Two request dialects are accepted, since clients in the field speak the one Synapse
shipped (matrix-rust-sdk, hence Element X) while the MSC moved on: `ranges` or `range`,
`required_state` as `[[type, state_key], ...]` pairs (`*`, `$LAZY`, `$ME`) or as an
`{include, exclude, lazy_members}` object, and `is_invite` or `is_invited`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from veche.protocol.events import StateKey

# Events that count as activity for `bump_stamp` (MSC4186 "Common fields").
BUMP_EVENT_TYPES: tuple[str, ...] = (
    "m.room.create",
    "m.room.message",
    "m.room.encrypted",
    "m.sticker",
    "m.call.invite",
    "m.poll.start",
    "m.beacon_info",
)

MAX_LISTS = 100
MAX_SUBSCRIPTIONS = 100
# The server may cap `timeline_limit`; /v3/sync caps its filter's limit alike.
MAX_TIMELINE_LIMIT = 100

WILDCARD = "*"
LAZY = "$LAZY"
ME = "$ME"
MEMBER = "m.room.member"

# Extension keys with a room scope (MSC4508 "Common per-room extension semantics").
ROOM_EXTENSIONS = ("account_data", "receipts", "typing")


class SlidingSyncRequestError(ValueError):
    """The request is malformed; `errcode` is the spec error to answer with (400)."""

    def __init__(self, errcode: str, message: str) -> None:
        super().__init__(message)
        self.errcode = errcode


def _bad_json(message: str) -> SlidingSyncRequestError:
    return SlidingSyncRequestError("M_BAD_JSON", message)


def _invalid(message: str) -> SlidingSyncRequestError:
    return SlidingSyncRequestError("M_INVALID_PARAM", message)


@dataclass(frozen=True, slots=True)
class StateRule:
    """Matches state by type and state key; None matches any. A state key of `$ME`
    stands for the requesting user."""

    type: str | None
    state_key: str | None

    def matches(self, key: StateKey, user_id: str) -> bool:
        if self.type is not None and self.type != key[0]:
            return False
        if self.state_key is None:
            return True
        return key[1] == (user_id if self.state_key == ME else self.state_key)


@dataclass(frozen=True, slots=True)
class RequiredState:
    include: tuple[StateRule, ...] = ()
    exclude: tuple[StateRule, ...] = ()
    lazy_members: bool = False

    def matches(self, key: StateKey, user_id: str) -> bool:
        return any(r.matches(key, user_id) for r in self.include) and not any(
            r.matches(key, user_id) for r in self.exclude
        )


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """What to send of a room: a combination of the configs of every rule it matches
    ("Combining room configs": the largest timeline, the union of the required state)."""

    timeline_limit: int
    required_state: tuple[RequiredState, ...]

    @property
    def lazy_members(self) -> bool:
        return any(r.lazy_members for r in self.required_state)

    def wants_state(self, key: StateKey, user_id: str) -> bool:
        return any(r.matches(key, user_id) for r in self.required_state)

    def wants_all_of_type(self, event_type: str) -> bool:
        """Whether every state key of `event_type` is wanted (lazy loading adds nothing)."""
        return any(
            any(r.type in (None, event_type) and r.state_key is None for r in rs.include)
            and not any(r.type in (None, event_type) for r in rs.exclude)
            for rs in self.required_state
        )


def combine_configs(configs: Iterable[RoomConfig]) -> RoomConfig:
    configs = list(configs)
    required: list[RequiredState] = []
    for config in configs:
        required.extend(r for r in config.required_state if r not in required)
    return RoomConfig(max(c.timeline_limit for c in configs), tuple(required))


@dataclass(frozen=True, slots=True)
class RoomFacts:
    """What the list filters look at for one room."""

    membership: str
    is_dm: bool
    is_encrypted: bool
    room_type: str | None
    tags: frozenset[str] = frozenset()
    # The filter's spaces that name this room as a child.
    parent_spaces: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ListFilters:
    is_dm: bool | None = None
    is_encrypted: bool | None = None
    is_invited: bool | None = None
    # None: any type; a None inside: rooms without a type.
    room_types: tuple[str | None, ...] | None = None
    not_room_types: tuple[str | None, ...] = ()
    spaces: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    not_tags: tuple[str, ...] = ()

    @property
    def needs_tags(self) -> bool:
        return self.tags is not None or bool(self.not_tags)

    def matches(self, room: RoomFacts) -> bool:
        if self.is_dm is not None and room.is_dm != self.is_dm:
            return False
        if self.is_encrypted is not None and room.is_encrypted != self.is_encrypted:
            return False
        if self.is_invited is not None and (room.membership == "invite") != self.is_invited:
            return False
        if room.room_type in self.not_room_types:
            return False
        if self.room_types is not None and room.room_type not in self.room_types:
            return False
        if self.spaces is not None and not room.parent_spaces:
            return False
        if room.tags.intersection(self.not_tags):
            return False
        return self.tags is None or bool(room.tags.intersection(self.tags))


@dataclass(frozen=True, slots=True)
class ListConfig:
    room: RoomConfig
    # Inclusive [start, end] windows into the filtered, sorted rooms; None: all of them.
    ranges: tuple[tuple[int, int], ...] | None
    filters: ListFilters

    def window(self, rooms: list[str]) -> list[str]:
        """The rooms of the sorted, filtered list that fall in the list's ranges."""
        if self.ranges is None:
            return list(rooms)
        picked: dict[str, None] = {}
        for start, end in self.ranges:
            picked.update(dict.fromkeys(rooms[start : end + 1]))
        return list(picked)


@dataclass(frozen=True, slots=True)
class ExtensionConfig:
    enabled: bool
    # Room scope of per-room extensions (None: every list / every subscription).
    lists: tuple[str, ...] | None = None
    rooms: tuple[str, ...] | None = None
    # to_device's own token and page size.
    since: str | None = None
    limit: int | None = None

    def in_scope(self, list_windows: Mapping[str, list[str]], subscriptions: Iterable[str]) -> set[str]:
        """The rooms this extension applies to (MSC4508: lists named in `lists`, or all;
        subscriptions named in `rooms`, or all; `*` in either means all)."""
        names = list(list_windows) if self.lists is None or WILDCARD in self.lists else self.lists
        scope = {room_id for name in names for room_id in list_windows.get(name, ())}
        subscribed = set(subscriptions)
        if self.rooms is None or WILDCARD in self.rooms:
            return scope | subscribed
        return scope | (subscribed & set(self.rooms))


@dataclass(frozen=True, slots=True)
class SlidingSyncRequest:
    conn_id: str
    pos: str | None
    timeout_ms: int
    lists: dict[str, ListConfig]
    subscriptions: dict[str, RoomConfig]
    extensions: dict[str, ExtensionConfig]
    txn_id: str | None = None


# A stream position is bound as a 64-bit SQL integer.
_MAX_POSITION = 2**63


@dataclass(frozen=True, slots=True)
class Pos:
    """A response's `pos`: `{generation}_{number}_{events}`, the connection's generation
    (lower-case hex), the snapshot's number, and the events stream position the response
    was built at. The last makes a `pos` usable as the `from` of /messages and /relations,
    as a /v3/sync `next_batch` is (MSC4186 "Connections"), without the connection."""

    generation: str
    number: int
    events: int

    def serialize(self) -> str:
        return f"{self.generation}_{self.number}_{self.events}"

    @classmethod
    def parse(cls, text: str) -> Pos | None:
        parts = text.split("_")
        if len(parts) != 3:
            return None
        generation, number, events = parts
        if not generation or generation.strip("0123456789abcdef"):
            return None
        # isdigit() alone passes "²".
        if not all(p.isascii() and p.isdigit() for p in (number, events)):
            return None
        if int(events) >= _MAX_POSITION:
            return None
        pos = cls(generation, int(number), int(events))
        # One spelling per pos ("…_01" is not "…_1"), so a pos names one snapshot.
        return pos if pos.serialize() == text else None


def sort_by_activity(stamps: Mapping[str, int]) -> list[str]:
    """Rooms by most recent activity first; ties broken by room ID, so the order is stable."""
    return sorted(stamps, key=lambda room_id: (-stamps[room_id], room_id))


def parse_request(body: Any, *, pos: str | None = None, timeout_ms: int | None = None) -> SlidingSyncRequest:
    """Validate a request body; `pos` and `timeout` may come from the query string instead
    (the older dialect) and win over the body's."""
    if not isinstance(body, dict):
        raise _bad_json("The request body must be a JSON object")
    conn_id = body.get("conn_id", "")
    if conn_id is None:
        conn_id = ""
    if not isinstance(conn_id, str):
        raise _bad_json("conn_id must be a string")
    if pos is None:
        pos = _optional_str(body, "pos")
    if timeout_ms is None:
        timeout_ms = _int(body.get("timeout", 0), "timeout")
    lists_json = _object(body.get("lists"), "lists")
    if len(lists_json) > MAX_LISTS:
        raise _invalid(f"At most {MAX_LISTS} lists")
    subs_json = _object(body.get("room_subscriptions"), "room_subscriptions")
    if len(subs_json) > MAX_SUBSCRIPTIONS:
        raise _invalid(f"At most {MAX_SUBSCRIPTIONS} room subscriptions")
    extensions_json = _object(body.get("extensions"), "extensions")
    return SlidingSyncRequest(
        conn_id=conn_id,
        pos=pos,
        timeout_ms=max(timeout_ms, 0),
        lists={name: _list_config(value, f"lists.{name}") for name, value in lists_json.items()},
        subscriptions={
            room_id: _room_config(value, f"room_subscriptions.{room_id}") for room_id, value in subs_json.items()
        },
        extensions={
            name: _extension_config(value, f"extensions.{name}")
            for name, value in extensions_json.items()
            if value is not None
        },
        txn_id=_optional_str(body, "txn_id"),
    )


def _list_config(value: Any, where: str) -> ListConfig:
    if not isinstance(value, dict):
        raise _bad_json(f"{where} must be an object")
    ranges: tuple[tuple[int, int], ...] | None
    if "ranges" in value:
        ranges_json = value["ranges"]
        if not isinstance(ranges_json, list):
            raise _bad_json(f"{where}.ranges must be a list of [start, end]")
        ranges = tuple(_range(r, f"{where}.ranges") for r in ranges_json)
    elif value.get("range") is not None:
        ranges = (_range(value["range"], f"{where}.range"),)
    else:
        ranges = None
    return ListConfig(_room_config(value, where), ranges, _filters(value.get("filters"), f"{where}.filters"))


def _range(value: Any, where: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise _bad_json(f"{where} must hold [start, end] pairs")
    start, end = (_int(v, where) for v in value)
    if start < 0 or end < start:
        raise _invalid(f"{where}: invalid range [{start}, {end}]")
    return start, end


def _room_config(value: Any, where: str) -> RoomConfig:
    if not isinstance(value, dict):
        raise _bad_json(f"{where} must be an object")
    limit = _int(value.get("timeline_limit", 0), f"{where}.timeline_limit")
    if limit < 0:
        raise _invalid(f"{where}.timeline_limit must not be negative")
    required = _required_state(value.get("required_state"), f"{where}.required_state")
    return RoomConfig(min(limit, MAX_TIMELINE_LIMIT), (required,))


def _required_state(value: Any, where: str) -> RequiredState:
    if value is None:
        return RequiredState()
    if isinstance(value, list):
        return _required_state_pairs(value, where)
    if not isinstance(value, dict):
        raise _bad_json(f"{where} must be a list of [type, state_key] or an object")
    lazy = value.get("lazy_members", False)
    if not isinstance(lazy, bool):
        raise _bad_json(f"{where}.lazy_members must be a boolean")
    return RequiredState(
        tuple(_state_element(e, f"{where}.include") for e in _list(value.get("include"), f"{where}.include")),
        tuple(_state_element(e, f"{where}.exclude") for e in _list(value.get("exclude"), f"{where}.exclude")),
        lazy,
    )


def _required_state_pairs(pairs: list[Any], where: str) -> RequiredState:
    rules: list[StateRule] = []
    lazy = False
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise _bad_json(f"{where} must hold [type, state_key] string pairs")
        event_type, state_key = pair
        if state_key == LAZY:
            # Only membership can be lazy; `$LAZY` on another type matches nothing.
            lazy = lazy or event_type == MEMBER
            continue
        rules.append(
            StateRule(None if event_type == WILDCARD else event_type, None if state_key == WILDCARD else state_key)
        )
    return RequiredState(tuple(rules), (), lazy)


def _state_element(value: Any, where: str) -> StateRule:
    if not isinstance(value, dict):
        raise _bad_json(f"{where} must hold objects")
    return StateRule(_optional_str(value, "type", where), _optional_str(value, "state_key", where))


def _filters(value: Any, where: str) -> ListFilters:
    if value is None:
        return ListFilters()
    if not isinstance(value, dict):
        raise _bad_json(f"{where} must be an object")
    is_invited = _optional_bool(value, "is_invited", where)
    if is_invited is None:
        is_invited = _optional_bool(value, "is_invite", where)
    room_types = _optional_types(value, "room_types", where)
    return ListFilters(
        is_dm=_optional_bool(value, "is_dm", where),
        is_encrypted=_optional_bool(value, "is_encrypted", where),
        is_invited=is_invited,
        room_types=room_types,
        not_room_types=_optional_types(value, "not_room_types", where) or (),
        spaces=_optional_strings(value, "spaces", where),
        tags=_optional_strings(value, "tags", where),
        not_tags=_optional_strings(value, "not_tags", where) or (),
    )


def _extension_config(value: Any, where: str) -> ExtensionConfig:
    if not isinstance(value, dict):
        raise _bad_json(f"{where} must be an object")
    enabled = _optional_bool(value, "enabled", where)
    limit = value.get("limit")
    return ExtensionConfig(
        enabled=bool(enabled),
        lists=_optional_strings(value, "lists", where),
        rooms=_optional_strings(value, "rooms", where),
        since=_optional_str(value, "since", where),
        limit=None if limit is None else max(_int(limit, f"{where}.limit"), 1),
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad_json(f"{where} must be an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad_json(f"{where} must be a list")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_json(f"{where} must be an integer")
    return value


def _optional_str(value: dict[str, Any], key: str, where: str = "") -> str | None:
    found = value.get(key)
    if found is not None and not isinstance(found, str):
        raise _bad_json(f"{where + '.' if where else ''}{key} must be a string")
    return found


def _optional_bool(value: dict[str, Any], key: str, where: str) -> bool | None:
    found = value.get(key)
    if found is not None and not isinstance(found, bool):
        raise _bad_json(f"{where}.{key} must be a boolean")
    return found


def _optional_strings(value: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    found = value.get(key)
    if found is None:
        return None
    if not isinstance(found, list) or not all(isinstance(s, str) for s in found):
        raise _bad_json(f"{where}.{key} must be a list of strings")
    return tuple(found)


def _optional_types(value: dict[str, Any], key: str, where: str) -> tuple[str | None, ...] | None:
    found = value.get(key)
    if found is None:
        return None
    if not isinstance(found, list) or not all(s is None or isinstance(s, str) for s in found):
        raise _bad_json(f"{where}.{key} must be a list of strings or nulls")
    return tuple(found)
