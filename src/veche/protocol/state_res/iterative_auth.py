"""The iterative auth checks of state resolution v2 (rooms/fragments/v2-state-res.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from veche.protocol.auth_rules import AuthError, auth_types_for_event, check_auth_rules
from veche.protocol.events import Event, StateKey
from veche.protocol.room_versions import RoomVersion
from veche.protocol.state_res.graph import CREATE_KEY, auth_event_ids, get_event


def iterative_auth_checks(
    room_version: RoomVersion,
    event_ids: Iterable[str],
    state: Mapping[StateKey, str],
    event_map: Mapping[str, Event],
) -> dict[StateKey, str]:
    """Apply each event in order to a copy of `state` if the auth rules allow it there.

    A key the rules need but the state lacks is taken from the event's own auth events,
    unless that auth event was rejected. The events being applied are re-checked whatever
    their earlier rejection status: the spec handles events rejected against the state
    at them "as usual" here.
    """
    resolved = dict(state)
    for eid in event_ids:
        event = get_event(event_map, eid)
        if not event.is_state:
            continue  # only a malformed auth event could be one; it cannot set state
        try:
            check_auth_rules(event, _auth_state(room_version, event, resolved, event_map))
        except AuthError:
            continue
        resolved[event.state_tuple] = eid
    return resolved


def _auth_state(
    room_version: RoomVersion,
    event: Event,
    resolved: Mapping[StateKey, str],
    event_map: Mapping[str, Event],
) -> dict[StateKey, Event]:
    needed = auth_types_for_event(room_version, event.type, event.state_key, event.sender, event.content)
    if CREATE_KEY not in needed:
        # From v12 the create event is not selected as an auth event, yet the rules read it.
        needed = [*needed, CREATE_KEY]
    from_auth_events: dict[StateKey, Event] = {}
    for aid in auth_event_ids(event):
        auth_event = get_event(event_map, aid)
        if auth_event.rejected_reason is None and auth_event.is_state:
            from_auth_events[auth_event.state_tuple] = auth_event
    auth_state: dict[StateKey, Event] = {}
    for key in needed:
        eid = resolved.get(key)
        if eid is not None:
            auth_state[key] = get_event(event_map, eid)
        elif key in from_auth_events:
            auth_state[key] = from_auth_events[key]
    return auth_state
