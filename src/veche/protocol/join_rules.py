"""Join rules: which rule a room has, and for restricted rooms which rooms' members may
join without an invite (client-server-api/_index.md "Restricted rooms",
event-schemas m.room.join_rules.yaml)."""

from __future__ import annotations

from veche.protocol.events import StateMap

JOIN_RULES_KEY = ("m.room.join_rules", "")
CREATE_KEY = ("m.room.create", "")


def join_rule(state: StateMap) -> str:
    # No join rules event admits only the invited, as the auth rules read it.
    event = state.get(JOIN_RULES_KEY)
    rule = event.content.get("join_rule") if event is not None else None
    return rule if isinstance(rule, str) else "invite"


def allowed_room_ids(state: StateMap) -> list[str]:
    """The rooms whose members may join a restricted room (its `allow` conditions)."""
    event = state.get(JOIN_RULES_KEY)
    allow = event.content.get("allow") if event is not None else None
    if not isinstance(allow, list):
        return []
    return [
        entry["room_id"]
        for entry in allow
        if isinstance(entry, dict)
        and entry.get("type") == "m.room_membership"
        and isinstance(entry.get("room_id"), str)
    ]


def restricted_allow_list(state: StateMap) -> list[str] | None:
    """The allowed rooms of a room joinable through them: its rule is `restricted` or
    `knock_restricted` and its room version has that rule. None for any other room."""
    create = state.get(CREATE_KEY)
    if create is None:
        return None
    rule, version = join_rule(state), create.room_version
    if (rule == "restricted" and version.restricted_join_rule) or (
        rule == "knock_restricted" and version.knock_restricted_join_rule
    ):
        return allowed_room_ids(state)
    return None
