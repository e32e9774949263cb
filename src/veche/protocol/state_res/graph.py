"""The auth-event graph: event lookup, auth chains, auth difference, conflicted subgraph.

Definitions from spec/content/rooms/fragments/v2-state-res.md and rooms/v12.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from veche.protocol.events import Event, StateIds
from veche.protocol.state_res.errors import MissingEventError

CREATE_KEY = ("m.room.create", "")


def get_event(event_map: Mapping[str, Event], event_id: str) -> Event:
    try:
        return event_map[event_id]
    except KeyError:
        raise MissingEventError(event_id) from None


def auth_event_ids(event: Event) -> list[str]:
    """The event's auth events, including the create event a v12+ room ID implies.

    From v12 the create event is never listed in `auth_events`: the room ID, being the
    create event's ID with a `!` sigil, names it instead (rooms/v12.md, auth rules), so
    it is still part of every other event's auth chain.
    """
    ids = event.auth_event_ids
    if event.room_version.room_id_from_create_event:
        # Read the PDU directly: this runs once per event of every auth chain walked.
        pdu = event.pdu
        if pdu["type"] != "m.room.create" or pdu.get("state_key") != "":
            room_id = pdu.get("room_id")
            if isinstance(room_id, str) and room_id.startswith("!"):
                ids.append("$" + room_id[1:])
    return ids


def auth_chain(event_ids: Iterable[str], event_map: Mapping[str, Event]) -> set[str]:
    """Every event reachable from `event_ids` through one or more `auth_events` links.

    A starting event is in the result only if another starting event reaches it.
    """
    chain: set[str] = set()
    stack = [aid for eid in event_ids for aid in auth_event_ids(get_event(event_map, eid))]
    while stack:
        eid = stack.pop()
        if eid in chain:
            continue
        chain.add(eid)
        stack.extend(auth_event_ids(get_event(event_map, eid)))
    return chain


def closure(
    event_ids: Iterable[str], event_map: Mapping[str, Event], stop: set[str] | frozenset[str] = frozenset()
) -> set[str]:
    """`event_ids` plus their auth chains, not entering (nor including) events in `stop`."""
    seen: set[str] = set()
    stack = list(event_ids)
    while stack:
        eid = stack.pop()
        if eid in seen or eid in stop:
            continue
        seen.add(eid)
        try:
            event = event_map[eid]
        except KeyError:
            raise MissingEventError(eid) from None
        stack.extend(auth_event_ids(event))
    return seen


def auth_chain_difference(state_sets: Sequence[StateIds], event_map: Mapping[str, Event]) -> set[str]:
    """The auth difference of the state sets: ∪ Cᵢ − ∩ Cᵢ over their full auth chains."""
    id_sets = [set(state_set.values()) for state_set in state_sets]
    if len(id_sets) < 2:
        return set()
    return difference_of_id_sets(id_sets, set.intersection(*id_sets), event_map)


def difference_of_id_sets(
    id_sets: Sequence[set[str]], common: set[str], event_map: Mapping[str, Event]
) -> set[str]:
    """The auth difference of state sets given as ID sets; `common` is the IDs in all of them.

    The full auth chain Cᵢ of a state set is taken to contain the set's own events, as
    Synapse computes it. That changes nothing for conflicted events (they are in the full
    conflicted set anyway) and keeps an unconflicted event out of the difference merely
    because only some branches cite it.

    The events in every set contribute the same chain B to every Cᵢ, so the difference is
    that of the Dᵢ = Cᵢ − B, each found by a walk that stops on entering B. B is walked once.
    """
    base = closure(common, event_map)
    parts = [closure(ids - common, event_map, stop=base) for ids in id_sets]
    union = set().union(*parts)
    return union - set.intersection(*parts)


def conflicted_subgraph(conflicted_ids: set[str], event_map: Mapping[str, Event]) -> set[str]:
    """Events on an `auth_events` path between two conflicted events, endpoints included
    (rooms/v12.md, "Conflicted state subgraph").

    An event is on such a path when a conflicted event reaches it and it reaches a
    conflicted event. The first walk collects what the conflicted events reach and the
    reversed edges among those events; the second walks the reversed edges back up from
    the conflicted events to find what reaches them.
    """
    reached: set[str] = set()
    cited_by: dict[str, list[str]] = {}
    stack: list[str] = []
    for eid in conflicted_ids:
        for aid in auth_event_ids(get_event(event_map, eid)):
            cited_by.setdefault(aid, []).append(eid)
            stack.append(aid)
    while stack:
        eid = stack.pop()
        if eid in reached:
            continue
        reached.add(eid)
        for aid in auth_event_ids(get_event(event_map, eid)):
            cited_by.setdefault(aid, []).append(eid)
            stack.append(aid)

    reaches_conflicted: set[str] = set()
    stack = list(conflicted_ids)
    while stack:
        eid = stack.pop()
        if eid in reaches_conflicted:
            continue
        reaches_conflicted.add(eid)
        stack.extend(cited_by.get(eid, ()))
    return (reached & reaches_conflicted) | conflicted_ids
