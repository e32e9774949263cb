"""Which events a user may see, by the room's history visibility (spec:
client-server-api/modules/history_visibility.md "Server behaviour").

Public API (one instance per server: `hs.visibility`):

    HistoryVisibility(stores: EventStores, history: RoomHistoryStore)
    await filter_events_for_user(user_id: str, events: list[Event]) -> list[Event]
        The events the user may see, in the order given. Outliers (no state) are dropped.
    await may_see_room(user_id: str, room_id: str) -> bool
        Joined now, or the room is world_readable now (peeking).
    await memberships_after(user_id: str, events: list[Event]) -> dict[str, str | None]
        event ID → the user's membership in the state after that event.

Each event is judged by the state before it. The store keeps the state *after* each event
(immutable, cached snapshots); for all but state events that set the history visibility
or the user's own membership, the two agree on the keys that matter, so one snapshot
lookup per distinct snapshot serves a whole timeline. The state before the few others
is the state after their first prev event. A user whose membership after an event is
`join` sees it whatever the visibility (rule 2, and for their own join, the "after"
half of the own-membership rule), which decides most events without further reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from veche.protocol.events import Event, StateKey
from veche.protocol.visibility import is_event_visible, normalize_history_visibility
from veche.storage.room_history import RoomHistoryStore
from veche.storage.stores import EventStores

HISTORY_KEY: StateKey = ("m.room.history_visibility", "")

Picked = dict[StateKey, str]


class HistoryVisibility:
    def __init__(self, stores: EventStores, history: RoomHistoryStore) -> None:
        self._events = stores.events
        self._state = stores.state
        self._history = history

    async def filter_events_for_user(self, user_id: str, events: list[Event]) -> list[Event]:
        if not events:
            return []
        member_key: StateKey = ("m.room.member", user_id)
        keys = (HISTORY_KEY, member_key)
        snapshots = await self._state.get_snapshots_after(e.event_id for e in events)
        after = await self._pick(snapshots.values(), keys)
        values = await self._events.get_events(i for picked in after.values() for i in picked.values())

        visible: set[str] = set()
        undecided: list[Event] = []
        for event in events:
            snapshot = snapshots.get(event.event_id)
            if snapshot is None:
                continue
            if _membership(after[snapshot], member_key, values) == "join":
                visible.add(event.event_id)
            else:
                undecided.append(event)
        if undecided:
            visible |= await self._decide(user_id, undecided, snapshots, after, values, keys)
        return [e for e in events if e.event_id in visible]

    async def _decide(
        self,
        user_id: str,
        events: list[Event],
        snapshots: dict[str, int],
        after: dict[int, Picked],
        values: dict[str, Event],
        keys: tuple[StateKey, StateKey],
    ) -> set[str]:
        before: dict[str, Picked] = {}
        needs_prev: dict[str, str] = {}
        for event in events:
            picked = after[snapshots[event.event_id]]
            if event.is_state and picked.get(event.state_tuple) == event.event_id:
                if event.prev_event_ids:
                    needs_prev[event.event_id] = event.prev_event_ids[0]
                else:
                    before[event.event_id] = {}
            else:
                before[event.event_id] = picked
        if needs_prev:
            prev_snapshots = await self._state.get_snapshots_after(needs_prev.values())
            prev_picked = await self._pick(prev_snapshots.values(), keys)
            values.update(
                await self._events.get_events(i for picked in prev_picked.values() for i in picked.values())
            )
            for event_id, prev_id in needs_prev.items():
                snapshot = prev_snapshots.get(prev_id)
                # Without the prev event's state, judge by the event's own state alone.
                before[event_id] = prev_picked[snapshot] if snapshot is not None else {}

        member_key = keys[1]
        visible: set[str] = set()
        second_look: list[tuple[Event, object, str | None]] = []
        for event in events:
            picked = before[event.event_id]
            history = _history_visibility(picked, values)
            membership = _membership(picked, member_key, values)
            if is_event_visible(user_id, event, history, membership, False):
                visible.add(event.event_id)
            elif _may_depend_on_later_join(event, history):
                second_look.append((event, history, membership))
        if second_look:
            joined_after = await self._joined_after(user_id, [e for e, _, _ in second_look])
            for event, history, membership in second_look:
                if is_event_visible(user_id, event, history, membership, event.event_id in joined_after):
                    visible.add(event.event_id)
        return visible

    async def _joined_after(self, user_id: str, events: list[Event]) -> set[str]:
        """The events after which the user joined the room at some point."""
        by_room: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_room[event.room_id].append(event)
        meta = await self._events.get_event_meta(e.event_id for e in events)
        result: set[str] = set()
        for room_id, room_events in by_room.items():
            history = await self._history.member_events_of(room_id, user_id)
            member_events = await self._events.get_events(event_id for event_id, _ in history)
            joins = [
                stream
                for event_id, stream in history
                if event_id in member_events and member_events[event_id].membership == "join"
            ]
            if not joins:
                continue
            last_join = joins[-1]
            for event in room_events:
                position = meta.get(event.event_id)
                if position is not None and position.stream_ordering is not None:
                    if last_join > position.stream_ordering:
                        result.add(event.event_id)
        return result

    async def may_see_room(self, user_id: str, room_id: str) -> bool:
        state = await self._state.get_current_state_ids(room_id, ["m.room.history_visibility", "m.room.member"])
        member_id = state.get(("m.room.member", user_id))
        history_id = state.get(HISTORY_KEY)
        events = await self._events.get_events(i for i in (member_id, history_id) if i is not None)
        if member_id in events and events[member_id].membership == "join":
            return True
        history = events[history_id].content.get("history_visibility") if history_id in events else None
        return normalize_history_visibility(history) == "world_readable"

    async def memberships_after(self, user_id: str, events: list[Event]) -> dict[str, str | None]:
        member_key: StateKey = ("m.room.member", user_id)
        snapshots = await self._state.get_snapshots_after(e.event_id for e in events)
        after = await self._pick(snapshots.values(), (member_key,))
        values = await self._events.get_events(i for picked in after.values() for i in picked.values())
        return {
            event_id: _membership(after[snapshot], member_key, values) for event_id, snapshot in snapshots.items()
        }

    async def _pick(self, snapshots: Iterable[int], keys: tuple[StateKey, ...]) -> dict[int, Picked]:
        return await self._state.pick_many_snapshot_ids(dict.fromkeys(snapshots, keys))


def _membership(picked: Picked, member_key: StateKey, values: dict[str, Event]) -> str | None:
    event_id = picked.get(member_key)
    event = values.get(event_id) if event_id is not None else None
    return event.membership if event is not None else None


def _history_visibility(picked: Picked, values: dict[str, Event]) -> object:
    event_id = picked.get(HISTORY_KEY)
    event = values.get(event_id) if event_id is not None else None
    return event.content.get("history_visibility") if event is not None else None


def _may_depend_on_later_join(event: Event, history: object) -> bool:
    """Whether rule 3 (`shared` and joined later) could change a refusal."""
    if normalize_history_visibility(history) == "shared":
        return True
    if event.is_state and event.type == "m.room.history_visibility":
        return normalize_history_visibility(event.content.get("history_visibility")) == "shared"
    return False
