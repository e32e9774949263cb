"""The redaction algorithm of every room version (spec: rooms/fragments/v1-redactions.md,
v6-redactions.md, v9-redactions.md, v11-redactions.md, and rooms/v8.md, which writes its
variant out in full).

Redaction decides what hashes and signatures cover, so the lists below must match the spec
exactly: one key too many or too few changes every event ID in the room.
"""

from __future__ import annotations

from typing import Any

from veche.protocol.room_versions import RedactionAlgorithm, RoomVersion

_TOP_LEVEL_V1 = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "prev_state",
        "auth_events",
        "origin",
        "origin_server_ts",
        "membership",
    }
)
# v11 stops preserving `origin`, `membership` and `prev_state`.
_TOP_LEVEL_V11 = _TOP_LEVEL_V1 - {"origin", "membership", "prev_state"}

_POWER_LEVELS_V1 = frozenset(
    {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"}
)

# Content keys kept per event type. `None` means "keep all of content".
_ContentRules = dict[str, frozenset[str] | None]

_CONTENT_V6: _ContentRules = {
    "m.room.member": frozenset({"membership"}),
    "m.room.create": frozenset({"creator"}),
    "m.room.join_rules": frozenset({"join_rule"}),
    "m.room.power_levels": _POWER_LEVELS_V1,
    "m.room.history_visibility": frozenset({"history_visibility"}),
}
# v6 dropped m.room.aliases from the v1 list.
_CONTENT_V1: _ContentRules = {**_CONTENT_V6, "m.room.aliases": frozenset({"aliases"})}
_CONTENT_V8: _ContentRules = {**_CONTENT_V6, "m.room.join_rules": frozenset({"join_rule", "allow"})}
_CONTENT_V9: _ContentRules = {
    **_CONTENT_V8,
    "m.room.member": frozenset({"membership", "join_authorised_via_users_server"}),
}
_CONTENT_V11: _ContentRules = {
    # m.room.member also keeps third_party_invite.signed; see _redact_content.
    "m.room.member": frozenset({"membership", "join_authorised_via_users_server"}),
    "m.room.create": None,
    "m.room.join_rules": frozenset({"join_rule", "allow"}),
    "m.room.power_levels": _POWER_LEVELS_V1 | {"invite"},
    "m.room.history_visibility": frozenset({"history_visibility"}),
    "m.room.redaction": frozenset({"redacts"}),
}

_RULES: dict[RedactionAlgorithm, tuple[frozenset[str], _ContentRules]] = {
    RedactionAlgorithm.V1: (_TOP_LEVEL_V1, _CONTENT_V1),
    RedactionAlgorithm.V6: (_TOP_LEVEL_V1, _CONTENT_V6),
    RedactionAlgorithm.V8: (_TOP_LEVEL_V1, _CONTENT_V8),
    RedactionAlgorithm.V9: (_TOP_LEVEL_V1, _CONTENT_V9),
    RedactionAlgorithm.V11: (_TOP_LEVEL_V11, _CONTENT_V11),
}


def redact(pdu: dict[str, Any], room_version: RoomVersion) -> dict[str, Any]:
    """A new PDU holding only what survives redaction; `pdu` is left untouched.

    The result shares nothing mutable with `pdu`. `unsigned` is not kept: the algorithm
    does not list it, and whatever a server wants to show clients there (such as
    `redacted_because`) is added afterwards.
    """
    return _deep_copy(redact_shallow(pdu, room_version))


def redact_shallow(pdu: dict[str, Any], room_version: RoomVersion) -> dict[str, Any]:
    """Like `redact`, but the kept values are the very objects of `pdu`.

    For read-only uses (hashing, checking signatures) that should not pay for a copy.
    """
    top_level, content_rules = _RULES[room_version.redaction]
    redacted = {key: value for key, value in pdu.items() if key in top_level}
    content = pdu.get("content")
    # Synapse writes an empty `content` even when the event had none, and reference
    # hashes must agree with it; every valid PDU has `content` anyway.
    redacted["content"] = _redact_content(
        pdu.get("type"),
        content if isinstance(content, dict) else {},
        content_rules,
        room_version.redaction,
    )
    return redacted


def _redact_content(
    event_type: Any,
    content: dict[str, Any],
    content_rules: _ContentRules,
    algorithm: RedactionAlgorithm,
) -> dict[str, Any]:
    if not isinstance(event_type, str) or event_type not in content_rules:
        return {}
    allowed = content_rules[event_type]
    if allowed is None:
        return dict(content)
    kept = {key: value for key, value in content.items() if key in allowed}
    if algorithm >= RedactionAlgorithm.V11 and event_type == "m.room.member":
        invite = content.get("third_party_invite")
        if isinstance(invite, dict) and "signed" in invite:
            kept["third_party_invite"] = {"signed": invite["signed"]}
    return kept


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
