"""State resolution v1 (room version 1; spec/content/rooms/v1.md "State resolution").

The resolved state R starts as the union of the state sets without their conflicting
entries. Conflicts are then settled in passes: power levels, join rules, memberships
(each by replaying the contenders oldest first and stopping at the first one the auth
rules refuse in R), and last every other key (the newest contender that R allows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from veche.protocol.auth_rules import AuthError, auth_types_for_event, check_auth_rules
from veche.protocol.events import Event, StateIds, StateKey
from veche.protocol.room_versions import RoomVersion
from veche.protocol.state_res.graph import get_event

POWER_LEVELS_KEY = ("m.room.power_levels", "")


def separate(state_sets: Sequence[StateIds]) -> tuple[dict[StateKey, str], dict[StateKey, set[str]]]:
    """Split into the non-conflicting entries and, per key, the conflicting event IDs.

    Unlike v2, a key set in only some of the states is not a conflict: a conflict is
    different event IDs for the same key.
    """
    merged: dict[StateKey, str] = {}
    conflicted: dict[StateKey, set[str]] = {}
    for state_set in state_sets:
        for key, eid in state_set.items():
            if key in conflicted:
                conflicted[key].add(eid)
            elif key not in merged:
                merged[key] = eid
            elif merged[key] != eid:
                conflicted[key] = {merged.pop(key), eid}
    return merged, conflicted


def resolve_v1(
    room_version: RoomVersion, state_sets: Sequence[StateIds], event_map: Mapping[str, Event]
) -> dict[StateKey, str]:
    resolved, conflicted = separate(state_sets)
    if not conflicted:
        return resolved
    contenders = {
        key: [get_event(event_map, eid) for eid in ids] for key, ids in conflicted.items()
    }

    def settle(keys: list[StateKey]) -> None:
        # Each key of a pass is settled against R as it stood before the pass, so the
        # result does not depend on the order the keys are visited in.
        winners = {key: _resolve_auth_key(room_version, contenders[key], resolved, event_map) for key in keys}
        resolved.update(winners)

    if POWER_LEVELS_KEY in contenders:
        settle([POWER_LEVELS_KEY])
    settle([key for key in contenders if key[0] == "m.room.join_rules"])
    settle([key for key in contenders if key[0] == "m.room.member"])
    others = [
        key
        for key in contenders
        if key != POWER_LEVELS_KEY and key[0] not in ("m.room.join_rules", "m.room.member")
    ]
    winners = {key: _resolve_other_key(room_version, contenders[key], resolved, event_map) for key in others}
    resolved.update(winners)
    return resolved


def _resolve_auth_key(
    room_version: RoomVersion,
    events: list[Event],
    resolved: Mapping[StateKey, str],
    event_map: Mapping[str, Event],
) -> str:
    """Ascending depth, then descending sha1(event_id): take the first, then each next one
    while the auth rules allow it in R updated with the one before it."""
    ordered = sorted(events, key=lambda e: (e.depth, _negated_sha1(e.event_id)))
    accepted = ordered[0]
    for event in ordered[1:]:
        if not _allowed(room_version, event, resolved, event_map, replaced=accepted):
            break
        accepted = event
    return accepted.event_id


def _resolve_other_key(
    room_version: RoomVersion,
    events: list[Event],
    resolved: Mapping[StateKey, str],
    event_map: Mapping[str, Event],
) -> str:
    """The highest depth, then lowest sha1(event_id), that the auth rules allow in R.

    The spec does not say what happens when none is allowed; like Synapse, the last
    contender (the lowest depth) is kept then, so the key stays set.
    """
    ordered = sorted(events, key=lambda e: (-e.depth, _sha1(e.event_id)))
    for event in ordered:
        if _allowed(room_version, event, resolved, event_map):
            return event.event_id
    return ordered[-1].event_id


def _allowed(
    room_version: RoomVersion,
    event: Event,
    state: Mapping[StateKey, str],
    event_map: Mapping[str, Event],
    replaced: Event | None = None,
) -> bool:
    """Whether the auth rules allow `event` in `state`, with `replaced` set over it."""
    needed = auth_types_for_event(room_version, event.type, event.state_key, event.sender, event.content)
    auth_state = {key: get_event(event_map, state[key]) for key in needed if key in state}
    if replaced is not None and replaced.state_tuple in needed:
        auth_state[replaced.state_tuple] = replaced
    try:
        check_auth_rules(event, auth_state)
    except AuthError:
        return False
    return True


def _sha1(event_id: str) -> bytes:
    return hashlib.sha1(event_id.encode("utf-8")).digest()


def _negated_sha1(event_id: str) -> bytes:
    # Sorting on the complemented digest orders by descending sha1.
    return bytes(255 - b for b in _sha1(event_id))
