"""Room history visibility (spec: client-server-api/modules/history_visibility.md).

The rules judge an event by the room state *at* the event (the state before it), except
for history-visibility events and the user's own membership events, which are visible
if either the state before or after them allows it.
"""

from __future__ import annotations

from veche.protocol.events import Event

HISTORY_VISIBILITY_VALUES = frozenset({"world_readable", "shared", "invited", "joined"})


def normalize_history_visibility(value: object) -> str:
    """A missing or unknown value counts as `shared`."""
    return value if isinstance(value, str) and value in HISTORY_VISIBILITY_VALUES else "shared"


def _allowed(visibility: str, membership: str | None, joined_after: bool) -> bool:
    if visibility == "world_readable":
        return True
    if membership == "join":
        return True
    if visibility == "shared" and joined_after:
        return True
    return membership == "invite" and visibility == "invited"


def is_event_visible(
    user_id: str,
    event: Event,
    history_visibility_before: object,
    membership_before: str | None,
    joined_after: bool,
) -> bool:
    """May `user_id` see `event`?

    `history_visibility_before` and `membership_before` are the room's
    `history_visibility` and the user's membership in the state before the event;
    `joined_after` says whether the user joined the room at any point after it.
    """
    visibility = normalize_history_visibility(history_visibility_before)
    if _allowed(visibility, membership_before, joined_after):
        return True
    if event.is_state and event.type == "m.room.history_visibility":
        after = normalize_history_visibility(event.content.get("history_visibility"))
        return _allowed(after, membership_before, joined_after)
    if event.type == "m.room.member" and event.state_key == user_id:
        return _allowed(visibility, event.membership, joined_after)
    return False
