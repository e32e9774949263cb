"""Spaces: which m.space.child links count, their order, who may see a room in a space
hierarchy, and the room summary the hierarchy shows (client-server-api/modules/spaces.md,
data/api/client-server/space_hierarchy.yaml, definitions/room_summary.yaml)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from veche.protocol.events import Event, StateKey, StateMap
from veche.protocol.join_rules import allowed_room_ids, join_rule
from veche.protocol.room_versions import RoomVersion
from veche.protocol.visibility import normalize_history_visibility

SPACE_ROOM_TYPE = "m.space"
SPACE_CHILD = "m.space.child"
MAX_ORDER_LENGTH = 50


def room_type(state: StateMap) -> str | None:
    create = state.get(("m.room.create", ""))
    value = create.content.get("type") if create is not None else None
    return value if isinstance(value, str) else None


def is_valid_child(event: Event) -> bool:
    """A child link counts only while its `via` is a non-empty list (m.space.child.yaml)."""
    return _valid_via(event.content)


def _valid_via(content: Mapping[str, Any]) -> bool:
    via = content.get("via")
    return isinstance(via, list) and bool(via) and all(isinstance(s, str) for s in via)


def is_suggested(event: Event) -> bool:
    return event.content.get("suggested") is True


def _valid_order(content: Mapping[str, Any]) -> str | None:
    order = content.get("order")
    if not isinstance(order, str) or not order or len(order) > MAX_ORDER_LENGTH:
        return None
    if any(not 0x20 <= ord(c) <= 0x7E for c in order):
        return None
    return order


def order_children(children: Iterable[Event]) -> list[Event]:
    """spaces.md "Ordering of children within a space": valid `order` keys first, by code
    point; the rest by timestamp; ties by timestamp, then room ID (the state key)."""

    return sorted(children, key=lambda e: _order_key(e.content, e.origin_server_ts, e.state_key or ""))


def _order_key(content: Mapping[str, Any], origin_server_ts: int, state_key: str) -> tuple[int, str, int, str]:
    order = _valid_order(content)
    return (0 if order is not None else 1, order or "", origin_server_ts, state_key)


def space_children(state: StateMap, *, suggested_only: bool = False) -> list[Event]:
    """The valid m.space.child events of a room's state, in display order."""
    children = [
        event
        for (event_type, _), event in state.items()
        if event_type == SPACE_CHILD and is_valid_child(event) and (is_suggested(event) or not suggested_only)
    ]
    return order_children(children)


def stripped_space_children(children_state: Any, *, suggested_only: bool = False) -> list[dict[str, Any]]:
    """The valid child links of another server's hierarchy answer (its children_state:
    stripped m.space.child events with origin_server_ts), in display order."""
    if not isinstance(children_state, list):
        return []
    children = [
        child
        for child in children_state
        if isinstance(child, dict)
        and child.get("type") == SPACE_CHILD
        and isinstance(child.get("state_key"), str)
        and isinstance(child.get("content"), dict)
        and isinstance(child.get("origin_server_ts"), int)
        and _valid_via(child["content"])
        and (child["content"].get("suggested") is True or not suggested_only)
    ]
    return sorted(children, key=lambda c: _order_key(c["content"], c["origin_server_ts"], c["state_key"]))


def is_world_readable(state: StateMap) -> bool:
    event = state.get(("m.room.history_visibility", ""))
    value = event.content.get("history_visibility") if event is not None else None
    return normalize_history_visibility(value) == "world_readable"


def may_see_in_hierarchy(
    room_version: RoomVersion, state: StateMap, membership: str | None, joined_rooms: Collection[str]
) -> bool:
    """space_hierarchy.yaml: a room is shown to a user who is joined or invited, who could
    join it (public, or restricted with a condition they meet), when it is knockable, or
    when it is world readable. A banned user is shown nothing of it."""
    if membership == "ban":
        return False
    if membership in ("join", "invite") or is_world_readable(state):
        return True
    rule = join_rule(state)
    if rule == "public":
        return True
    if (rule == "knock" and room_version.knock_join_rule) or (
        rule == "knock_restricted" and room_version.knock_restricted_join_rule
    ):
        return True
    if rule == "restricted" and room_version.restricted_join_rule:
        return any(room_id in joined_rooms for room_id in allowed_room_ids(state))
    return False


def may_see_remote_summary(summary: Mapping[str, Any], joined_rooms: Collection[str]) -> bool:
    """space_hierarchy.yaml for a room this server does not hold, from the summary another
    server gave: the user is no member, so it shows when world readable, public or
    knockable, or restricted with a condition the user meets."""
    if summary.get("world_readable") is True:
        return True
    rule = summary.get("join_rule")
    if rule in ("public", "knock", "knock_restricted"):
        return True
    allowed = summary.get("allowed_room_ids")
    return rule == "restricted" and isinstance(allowed, list) and any(
        isinstance(r, str) and r in joined_rooms for r in allowed
    )


def may_server_see_in_hierarchy(room_version: RoomVersion, state: StateMap, server_is_in_room: bool) -> bool:
    """Federation space_hierarchy.yaml: a room is shown to a server that could peek or join
    it. Whether one of its users meets a restricted room's conditions is for that server
    to judge, from the summary's allowed_room_ids."""
    if server_is_in_room or is_world_readable(state):
        return True
    rule = join_rule(state)
    return (
        rule == "public"
        or (rule == "knock" and room_version.knock_join_rule)
        or (rule == "restricted" and room_version.restricted_join_rule)
        or (rule == "knock_restricted" and room_version.knock_restricted_join_rule)
    )


def room_summary(
    room_id: str, room_version: RoomVersion, state: StateMap, num_joined_members: int
) -> dict[str, Any]:
    """A room_summary.yaml object built from the room's current state."""
    summary: dict[str, Any] = {
        "room_id": room_id,
        "num_joined_members": num_joined_members,
        "world_readable": is_world_readable(state),
        "guest_can_join": _content_str(state, ("m.room.guest_access", ""), "guest_access") == "can_join",
        "join_rule": join_rule(state),
        "room_version": room_version.identifier,
    }
    optional = {
        "name": _content_str(state, ("m.room.name", ""), "name"),
        "topic": _content_str(state, ("m.room.topic", ""), "topic"),
        "canonical_alias": _content_str(state, ("m.room.canonical_alias", ""), "alias"),
        "avatar_url": _content_str(state, ("m.room.avatar", ""), "url"),
        "room_type": room_type(state),
        "encryption": _content_str(state, ("m.room.encryption", ""), "algorithm"),
    }
    summary.update({key: value for key, value in optional.items() if value})
    if summary["join_rule"] in ("restricted", "knock_restricted"):
        summary["allowed_room_ids"] = allowed_room_ids(state)
    return summary


def stripped_child_state(event: Event) -> dict[str, Any]:
    """A children_state entry: stripped state plus origin_server_ts (space_hierarchy.yaml)."""
    return {
        "type": event.type,
        "state_key": event.state_key,
        "content": event.content,
        "sender": event.sender,
        "origin_server_ts": event.origin_server_ts,
    }


def _content_str(state: Mapping[StateKey, Event], key: StateKey, field: str) -> str | None:
    event = state.get(key)
    value = event.content.get(field) if event is not None else None
    return value if isinstance(value, str) else None
