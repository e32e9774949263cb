"""The two orderings of state resolution v2 (spec/content/rooms/fragments/v2-state-res.md):
the reverse topological power ordering and the mainline ordering.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping

from veche.protocol.events import Event
from veche.protocol.power_levels import get_user_power_level
from veche.protocol.state_res.errors import StateResolutionError
from veche.protocol.state_res.graph import CREATE_KEY, auth_event_ids, get_event

POWER_LEVELS_KEY = ("m.room.power_levels", "")


def is_power_event(event: Event) -> bool:
    """Power levels, join rules, and kicks/bans (leave or ban of someone else)."""
    if not event.is_state:
        return False
    if event.type in ("m.room.power_levels", "m.room.join_rules"):
        return True
    return event.membership in ("leave", "ban") and event.sender != event.state_key


def reverse_topological_power_order(
    event_ids: Collection[str], event_map: Mapping[str, Event]
) -> list[str]:
    """Order `event_ids` earliest first: Kahn's algorithm over their auth DAG, taking at
    each step the candidate whose sender has the highest power level (per its own auth
    events), then the smallest `origin_server_ts`, then the smallest event ID.
    """
    nodes = set(event_ids)
    earlier = _auth_edges_within(nodes, event_map)
    keys = {eid: _power_key(get_event(event_map, eid), event_map) for eid in nodes}

    later: dict[str, list[str]] = {eid: [] for eid in nodes}
    waiting: dict[str, int] = {}
    for eid, before in earlier.items():
        waiting[eid] = len(before)
        for bid in before:
            later[bid].append(eid)

    ready = [(keys[eid], eid) for eid, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, eid = heapq.heappop(ready)
        ordered.append(eid)
        for lid in later[eid]:
            waiting[lid] -= 1
            if waiting[lid] == 0:
                heapq.heappush(ready, (keys[lid], lid))
    if len(ordered) != len(nodes):
        raise StateResolutionError("the auth events of the events to sort form a cycle")
    return ordered


def _power_key(event: Event, event_map: Mapping[str, Event]) -> tuple[float, int, str]:
    power_levels = create = None
    for aid in auth_event_ids(event):
        auth_event = get_event(event_map, aid)
        if not auth_event.is_state:
            continue
        key = auth_event.state_tuple
        if key == POWER_LEVELS_KEY:
            power_levels = auth_event
        elif key == CREATE_KEY:
            create = auth_event
    if (event.type, event.state_key) == CREATE_KEY:
        create = event
    level = get_user_power_level(event.sender, power_levels, create)
    return (-level, event.origin_server_ts, event.event_id)


def _auth_edges_within(nodes: set[str], event_map: Mapping[str, Event]) -> dict[str, set[str]]:
    """For each node, the nodes in its auth chain that no other node lies between.

    The ordering must respect the whole auth DAG, so an edge also runs through events
    outside `nodes`: those intermediates are collapsed, each remembering the nodes it
    leads to (memoised, so the shared lower chain is walked once).
    """
    leads_to: dict[str, frozenset[str]] = {}
    empty: frozenset[str] = frozenset()

    def collect(eid: str) -> set[str]:
        found: set[str] = set()
        for aid in auth_event_ids(get_event(event_map, eid)):
            found.update((aid,) if aid in nodes else leads_to[aid])
        return found

    edges: dict[str, set[str]] = {}
    for start in nodes:
        # Depth-first, post-order: an event is summarised once all its auth events are.
        path = {start}
        stack = [(start, iter(auth_event_ids(get_event(event_map, start))))]
        while stack:
            eid, pending = stack[-1]
            for aid in pending:
                if aid in nodes or aid in leads_to:
                    continue
                if aid in path:
                    raise StateResolutionError(f"the auth events of {aid} form a cycle")
                path.add(aid)
                stack.append((aid, iter(auth_event_ids(get_event(event_map, aid)))))
                break
            else:
                stack.pop()
                path.discard(eid)
                found = collect(eid)
                if eid in nodes:
                    edges[eid] = found
                else:
                    leads_to[eid] = frozenset(found) if found else empty
    return edges


def mainline_order(
    event_ids: Collection[str], power_levels_id: str | None, event_map: Mapping[str, Event]
) -> list[str]:
    """Order `event_ids` by their mainline position relative to `power_levels_id`
    (events based on an older power level first), then `origin_server_ts`, then ID.
    """
    position: dict[str, float] = {}
    index = 0
    current = power_levels_id
    while current is not None:
        position[current] = index
        index += 1
        current = _power_levels_in_auth(get_event(event_map, current), event_map)

    def mainline_position(power_levels: str | None) -> float:
        # Walk down the power-level chain to the first event on the mainline, then
        # remember the answer for every power-level event passed on the way.
        path: list[str] = []
        while power_levels is not None and power_levels not in position:
            path.append(power_levels)
            power_levels = _power_levels_in_auth(get_event(event_map, power_levels), event_map)
        found = math.inf if power_levels is None else position[power_levels]
        for pid in path:
            position[pid] = found
        return found

    def sort_key(eid: str) -> tuple[float, int, str]:
        event = get_event(event_map, eid)
        pos = mainline_position(_power_levels_in_auth(event, event_map))
        return (-pos, event.origin_server_ts, eid)

    return sorted(event_ids, key=sort_key)


def _power_levels_in_auth(event: Event, event_map: Mapping[str, Event]) -> str | None:
    for aid in event.auth_event_ids:
        auth_event = get_event(event_map, aid)
        if auth_event.is_state and auth_event.state_tuple == POWER_LEVELS_KEY:
            return aid
    return None
