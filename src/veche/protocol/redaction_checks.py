"""When a server applies a redaction to the event it names (spec:
rooms/fragments/v3-handling-redactions.md; in v1 and v2 the auth rules decide instead)."""

from __future__ import annotations

from veche.protocol.events import Event
from veche.protocol.power_levels import get_named_level, get_user_power_level


def redaction_applies(
    redaction: Event, target: Event, power_levels: Event | None, create: Event | None
) -> bool:
    """Whether `redaction` redacts `target`; `power_levels` and `create` are the state at
    the redaction (only read in room versions that defer the check to serving time)."""
    if redaction.room_id != target.room_id or redaction.redacts != target.event_id:
        return False
    if not target.room_version.deferred_redaction_checks:
        return True
    if _domain(redaction.sender) == _domain(target.sender):
        return True
    return get_user_power_level(redaction.sender, power_levels, create) >= get_named_level("redact", power_levels)


def _domain(user_id: str) -> str:
    return user_id.partition(":")[2]
