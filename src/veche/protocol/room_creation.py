"""What `POST /createRoom` puts into a new room (spec: data/api/client-server/create_room.yaml).

`parse_create_room_request` validates the request body; `plan_initial_events` turns it
into the ordered list of events the spec prescribes. Sending them is the service's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from veche.protocol.room_versions import RoomVersion

def _preset(join_rule: str, guest_access: str) -> dict[str, dict[str, str]]:
    return {
        "m.room.join_rules": {"join_rule": join_rule},
        "m.room.history_visibility": {"history_visibility": "shared"},
        "m.room.guest_access": {"guest_access": guest_access},
    }


# The preset table of create_room.yaml: the state each preset sets.
PRESETS = {
    "private_chat": _preset("invite", "can_join"),
    "trusted_private_chat": _preset("invite", "can_join"),
    "public_chat": _preset("public", "forbidden"),
}


class InvalidCreateRoomRequest(ValueError):
    """The body is malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    type: str
    content: dict[str, Any]
    state_key: str | None = None


@dataclass(slots=True)
class CreateRoomRequest:
    visibility: str = "private"
    preset: str = "private_chat"
    room_alias_name: str | None = None
    name: str | None = None
    topic: str | None = None
    invite: list[str] = field(default_factory=list)
    invite_3pid: list[dict[str, Any]] = field(default_factory=list)
    room_version: str | None = None
    creation_content: dict[str, Any] = field(default_factory=dict)
    initial_state: list[EventSpec] = field(default_factory=list)
    is_direct: bool = False
    power_level_content_override: dict[str, Any] | None = None


def parse_create_room_request(body: dict[str, Any]) -> CreateRoomRequest:
    visibility = _typed(body, "visibility", str, "private")
    if visibility not in ("public", "private"):
        raise InvalidCreateRoomRequest("visibility must be 'public' or 'private'")
    preset = _typed(body, "preset", str, None)
    if preset is None:
        preset = "public_chat" if visibility == "public" else "private_chat"
    elif preset not in PRESETS:
        raise InvalidCreateRoomRequest(f"unknown preset {preset!r}")
    invite = _typed(body, "invite", list, [])
    if not all(isinstance(user_id, str) for user_id in invite):
        raise InvalidCreateRoomRequest("invite must be a list of user IDs")
    invite_3pid = _typed(body, "invite_3pid", list, [])
    if not all(isinstance(entry, dict) for entry in invite_3pid):
        raise InvalidCreateRoomRequest("invite_3pid must be a list of objects")
    initial_state = []
    for entry in _typed(body, "initial_state", list, []):
        if not isinstance(entry, dict):
            raise InvalidCreateRoomRequest("initial_state entries must be objects")
        event_type = entry.get("type")
        state_key = entry.get("state_key", "")
        content = entry.get("content")
        if not isinstance(event_type, str) or not isinstance(state_key, str) or not isinstance(content, dict):
            raise InvalidCreateRoomRequest("initial_state entries need a string type and an object content")
        initial_state.append(EventSpec(event_type, content, state_key))
    return CreateRoomRequest(
        visibility=visibility,
        preset=preset,
        room_alias_name=_typed(body, "room_alias_name", str, None),
        name=_typed(body, "name", str, None),
        topic=_typed(body, "topic", str, None),
        invite=list(dict.fromkeys(invite)),
        invite_3pid=invite_3pid,
        room_version=_typed(body, "room_version", str, None),
        creation_content=_typed(body, "creation_content", dict, {}),
        initial_state=initial_state,
        is_direct=_typed(body, "is_direct", bool, False),
        power_level_content_override=_typed(body, "power_level_content_override", dict, None),
    )


def _typed(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise InvalidCreateRoomRequest(f"{key} must be a {kind.__name__}")
    return value


def create_event_content(request: CreateRoomRequest, creator: str, room_version: RoomVersion) -> dict[str, Any]:
    content = dict(request.creation_content)
    content["room_version"] = room_version.identifier
    if room_version.implicit_room_creator:
        content.pop("creator", None)
    else:
        content["creator"] = creator
    if room_version.privileged_creators and request.preset == "trusted_private_chat":
        extra = content.get("additional_creators", [])
        if not isinstance(extra, list):
            raise InvalidCreateRoomRequest("creation_content.additional_creators must be a list")
        content["additional_creators"] = list(dict.fromkeys([*extra, *request.invite]))
    return content


def default_power_levels(request: CreateRoomRequest, creator: str, room_version: RoomVersion) -> dict[str, Any]:
    users: dict[str, int] = {}
    if not room_version.privileged_creators:
        users[creator] = 100
        if request.preset == "trusted_private_chat":
            users.update({user_id: 100 for user_id in request.invite})
    content: dict[str, Any] = {
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            # Room version 12 requires upgrading to be above state_default (create_room.yaml).
            "m.room.tombstone": 150 if room_version.privileged_creators else 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50 if request.preset == "public_chat" else 0,
        "notifications": {"room": 50},
    }
    if request.power_level_content_override:
        content.update(request.power_level_content_override)
    return content


def plan_initial_events(
    request: CreateRoomRequest,
    creator: str,
    room_version: RoomVersion,
    canonical_alias: str | None,
    creator_profile: dict[str, Any] | None = None,
) -> list[EventSpec]:
    """The events of a new room, in the order the spec prescribes (after the create event)."""
    events = [
        EventSpec("m.room.member", {"membership": "join", **(creator_profile or {})}, creator),
        EventSpec("m.room.power_levels", default_power_levels(request, creator, room_version), ""),
    ]
    if canonical_alias is not None:
        events.append(EventSpec("m.room.canonical_alias", {"alias": canonical_alias}, ""))
    overridden = {(spec.type, spec.state_key) for spec in request.initial_state}
    events.extend(
        EventSpec(event_type, dict(content), "")
        for event_type, content in PRESETS[request.preset].items()
        if (event_type, "") not in overridden
    )
    named = {"m.room.name", "m.room.topic"}
    events.extend(
        spec
        for spec in request.initial_state
        if not (spec.state_key == "" and spec.type in named and _named_field_given(request, spec.type))
    )
    if request.name is not None:
        events.append(EventSpec("m.room.name", {"name": request.name}, ""))
    if request.topic is not None:
        events.append(
            EventSpec(
                "m.room.topic",
                {"topic": request.topic, "m.topic": {"m.text": [{"body": request.topic, "mimetype": "text/plain"}]}},
                "",
            )
        )
    for invitee in request.invite:
        content: dict[str, Any] = {"membership": "invite"}
        if request.is_direct:
            content["is_direct"] = True
        events.append(EventSpec("m.room.member", content, invitee))
    return events


def _named_field_given(request: CreateRoomRequest, event_type: str) -> bool:
    return (request.name if event_type == "m.room.name" else request.topic) is not None
