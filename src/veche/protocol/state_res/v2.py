"""State resolution v2 (rooms v2–v11) and its v2.1 iteration (room version 12).

Spec: rooms/fragments/v2-state-res.md; rooms/v12.md "State resolution" for v2.1, which
adds the conflicted state subgraph to the full conflicted set and starts the first
iterative auth checks from an empty state instead of the unconflicted state map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from veche.protocol.events import Event, StateIds, StateKey
from veche.protocol.room_versions import RoomVersion, StateResAlgorithm
from veche.protocol.state_res.graph import (
    auth_event_ids,
    conflicted_subgraph,
    difference_of_id_sets,
    get_event,
)
from veche.protocol.state_res.iterative_auth import iterative_auth_checks
from veche.protocol.state_res.ordering import (
    POWER_LEVELS_KEY,
    is_power_event,
    mainline_order,
    reverse_topological_power_order,
)


def separate(state_sets: Sequence[StateIds]) -> tuple[dict[StateKey, str], dict[StateKey, set[str]]]:
    """Split into the unconflicted state map and, per key, the conflicted event IDs.

    A key is unconflicted only if every state set has it with the same event; a key
    missing from some set is conflicted.
    """
    first, *rest = state_sets
    unconflicted: dict[StateKey, str] = {}
    conflicted: dict[StateKey, set[str]] = {}
    for key, eid in first.items():
        if all(other.get(key) == eid for other in rest):
            unconflicted[key] = eid
        else:
            conflicted[key] = {eid}
    for other in rest:
        for key, eid in other.items():
            if key not in unconflicted:
                conflicted.setdefault(key, set()).add(eid)
    return unconflicted, conflicted


def resolve_v2(
    room_version: RoomVersion, state_sets: Sequence[StateIds], event_map: Mapping[str, Event]
) -> dict[StateKey, str]:
    unconflicted, conflicted = separate(state_sets)
    if not conflicted:
        return unconflicted
    is_v2_1 = room_version.state_res is StateResAlgorithm.V2_1

    conflicted_ids = set().union(*conflicted.values())
    full_conflicted = conflicted_ids | difference_of_id_sets(
        [set(state_set.values()) for state_set in state_sets], set(unconflicted.values()), event_map
    )
    if is_v2_1:
        full_conflicted |= conflicted_subgraph(conflicted_ids, event_map)

    power_ids = _power_events_with_their_chains(full_conflicted, event_map)
    sorted_power = reverse_topological_power_order(power_ids, event_map)
    start = {} if is_v2_1 else unconflicted
    partial = iterative_auth_checks(room_version, sorted_power, start, event_map)

    others = mainline_order(full_conflicted - power_ids, partial.get(POWER_LEVELS_KEY), event_map)
    resolved = iterative_auth_checks(room_version, others, partial, event_map)
    resolved.update(unconflicted)
    return resolved


def _power_events_with_their_chains(full_conflicted: set[str], event_map: Mapping[str, Event]) -> set[str]:
    """The power events of the full conflicted set, plus the members of that set found
    in their auth chains."""
    selected = {eid for eid in full_conflicted if is_power_event(get_event(event_map, eid))}
    seen: set[str] = set()
    stack = [aid for eid in selected for aid in auth_event_ids(get_event(event_map, eid))]
    while stack:
        eid = stack.pop()
        if eid in seen:
            continue
        seen.add(eid)
        if eid in full_conflicted:
            selected.add(eid)
        stack.extend(auth_event_ids(get_event(event_map, eid)))
    return selected
