"""What other servers may read of a room (server-server-api.md "Retrieving events",
"Retrieving event authorisation information", "Backfilling and retrieving missing events";
events.yaml, event_auth.yaml).

Every read first checks the room's server ACL and that the asking server has a user
joined to the room (403 otherwise). Events the server may not see under the room's
history visibility at that event are served redacted, as Synapse does, so that the DAG
stays walkable without leaking content. Rejected events are never served.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from veche.errors import MatrixError, not_found
from veche.protocol.events import Event, StateKey
from veche.protocol.redaction import redact
from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.sender import server_of
from veche.storage.stores import EventStores

MAX_MISSING_EVENTS = 100
HISTORY_VISIBILITY_KEY: StateKey = ("m.room.history_visibility", "")


class PeerReads:
    def __init__(self, *, stores: EventStores, acl: ServerAclChecker) -> None:
        self._stores = stores
        self._acl = acl

    async def check_access(self, origin: str, room_id: str) -> None:
        """403 unless the room's ACL lets `origin` in and one of its users is joined."""
        await self._acl.check(room_id, origin)
        members = await self._stores.rooms.get_joined_members(room_id)
        if not any(server_of(user_id) == origin for user_id in members):
            raise MatrixError(403, "M_FORBIDDEN", "Your server is not in this room")

    async def get_event(self, origin: str, event_id: str) -> dict[str, Any]:
        event = await self._stores.events.get_event(event_id)
        if event is None or event.rejected_reason is not None:
            raise not_found(f"Unknown event {event_id}")
        await self.check_access(origin, event.room_id)
        [pdu] = await self._for_server(origin, [event])
        return pdu

    async def get_state(self, origin: str, room_id: str, event_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(state PDUs at the event, their auth chain PDUs), as /state answers."""
        state_ids, chain_ids = await self.get_state_ids(origin, room_id, event_id)
        state = await self._stores.events.get_events_in_order(state_ids)
        chain = await self._stores.events.get_events_in_order(chain_ids)
        return [e.pdu for e in state], [e.pdu for e in chain]

    async def get_state_ids(self, origin: str, room_id: str, event_id: str) -> tuple[list[str], list[str]]:
        """The state at (just before) the event and the auth chain of that state."""
        await self.check_access(origin, room_id)
        event = await self._room_event(room_id, event_id)
        state = await self._stores.state.get_state_ids_after(event_id)
        if state is None:
            raise not_found(f"The state at {event_id} is unknown")
        if event.is_state and state.get(event.state_tuple) == event_id:
            await self._undo_own_state(event, state)
        state_ids = sorted(state.values())
        chain_ids = await self._stores.events.get_auth_chain_ids(state_ids)
        return state_ids, sorted(chain_ids)

    async def get_event_auth(self, origin: str, room_id: str, event_id: str) -> list[dict[str, Any]]:
        await self.check_access(origin, room_id)
        await self._room_event(room_id, event_id)
        chain = await self._stores.events.get_auth_chain([event_id])
        return [e.pdu for e in sorted(chain, key=lambda e: (e.depth, e.event_id))]

    async def get_missing_events(
        self, origin: str, room_id: str, earliest: list[str], latest: list[str], limit: int, min_depth: int
    ) -> list[dict[str, Any]]:
        """Walk back from `latest` through prev_events, not past `earliest` or below
        `min_depth`: the `limit` events nearest to `latest`, oldest first."""
        await self.check_access(origin, room_id)
        limit = max(0, min(limit, MAX_MISSING_EVENTS))
        seen = set(earliest) | set(latest)
        frontier = [e for e in (await self._stores.events.get_events(latest)).values() if e.room_id == room_id]
        found: list[Event] = []
        while frontier and len(found) < limit:
            wanted = [p for e in frontier for p in e.prev_event_ids if p not in seen]
            seen.update(wanted)
            prevs = await self._stores.events.get_events(wanted)
            frontier = []
            for prev_id in wanted:
                prev = prevs.get(prev_id)
                if prev is None or prev.room_id != room_id or prev.depth < min_depth:
                    continue
                if prev.rejected_reason is None:
                    found.append(prev)
                frontier.append(prev)
        found = sorted(found[:limit], key=lambda e: (e.depth, e.event_id))
        return await self._for_server(origin, found)

    async def _room_event(self, room_id: str, event_id: str) -> Event:
        event = await self._stores.events.get_event(event_id)
        if event is None or event.room_id != room_id:
            raise not_found(f"Unknown event {event_id} in {room_id}")
        return event

    async def _undo_own_state(self, event: Event, state: dict[StateKey, str]) -> None:
        """Turn the state after a state event into the state before it."""
        key = event.state_tuple
        for prev_id in event.prev_event_ids:
            before = await self._stores.state.get_state_ids_after(prev_id)
            if before is not None:
                if key in before:
                    state[key] = before[key]
                else:
                    del state[key]
                return
        del state[key]

    async def pdus_for_server(self, origin: str, events: Iterable[Event]) -> list[dict[str, Any]]:
        """The events as `origin` may see them: redacted where history visibility hides them."""
        return await self._for_server(origin, events)

    async def _for_server(self, origin: str, events: Iterable[Event]) -> list[dict[str, Any]]:
        events = list(events)
        visible = await self._visible_to(origin, events)
        return [e.pdu if e.event_id in visible else redact(e.pdu, e.room_version) for e in events]

    async def _visible_to(self, origin: str, events: list[Event]) -> set[str]:
        """History visibility for servers: the events one of its users could see.

        Batched: one read of the events' snapshots, the state of each distinct snapshot
        (a run of messages shares one), one read of the events that state names.
        """
        snapshots = await self._stores.state.get_snapshots_after(e.event_id for e in events)
        states = {
            snapshot: await self._stores.state.get_snapshot_state_ids(
                snapshot, ["m.room.history_visibility", "m.room.member"]
            )
            for snapshot in set(snapshots.values())
        }
        # What decides: the visibility event and the origin's members in each state.
        deciding = {
            snapshot: [
                event_id
                for (event_type, state_key), event_id in state.items()
                if (event_type, state_key) == HISTORY_VISIBILITY_KEY
                or (event_type == "m.room.member" and server_of(state_key) == origin)
            ]
            for snapshot, state in states.items()
        }
        loaded = await self._stores.events.get_events({eid for ids in deciding.values() for eid in ids})
        visible_in = {
            snapshot: _server_may_see(states[snapshot].get(HISTORY_VISIBILITY_KEY), ids, loaded)
            for snapshot, ids in deciding.items()
        }
        return {e.event_id for e in events if e.event_id not in snapshots or visible_in[snapshots[e.event_id]]}


def _server_may_see(visibility_id: str | None, deciding: list[str], loaded: dict[str, Event]) -> bool:
    """Whether a server whose members' events are among `deciding` may see an event
    under the history visibility event `visibility_id` (server-server-api.md, "Visibility")."""
    visibility = "shared"
    visibility_event = loaded.get(visibility_id) if visibility_id is not None else None
    if visibility_event is not None:
        visibility = visibility_event.content.get("history_visibility", "shared")
    if visibility in ("world_readable", "shared"):
        return True
    allowed = ("join", "invite") if visibility == "invited" else ("join",)
    return any(
        loaded[event_id].membership in allowed
        for event_id in deciding
        if event_id != visibility_id and event_id in loaded
    )
