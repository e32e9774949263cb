"""Serving /backfill to other servers (server-server-api.md "Backfilling and retrieving
missing events"; backfill.yaml): the given events and those before them, nearest first,
up to the limit, each as history visibility lets the asking server see it."""

from __future__ import annotations

import heapq
from typing import Any

from veche.protocol.events import Event
from veche.services.federation.peer_reads import PeerReads
from veche.storage.stores import EventStores

# At most this many events in one answer, whatever the asking server wants.
MAX_BACKFILL = 100


class BackfillServer:
    def __init__(self, *, stores: EventStores, reads: PeerReads) -> None:
        self._stores = stores
        self._reads = reads

    async def backfill(self, origin: str, room_id: str, from_ids: list[str], limit: int) -> list[dict[str, Any]]:
        await self._reads.check_access(origin, room_id)
        limit = max(0, min(limit, MAX_BACKFILL))
        seen = set(from_ids)
        # Deepest first: a walk back through prev_events over the whole frontier at once,
        # a layer (the events of the greatest depth left) at a time, so that the prev
        # events of a layer are read in one batch.
        frontier: list[tuple[int, str]] = []
        loaded: dict[str, Event] = {}
        self._push(frontier, loaded, room_id, await self._stores.events.get_events(from_ids))
        found: list[Event] = []
        while frontier and len(found) < limit:
            wanted: list[str] = []
            for event in self._pop_layer(frontier, loaded, limit - len(found)):
                if event.rejected_reason is None:
                    found.append(event)
                fresh = [p for p in event.prev_event_ids if p not in seen]
                seen.update(fresh)
                wanted.extend(fresh)
            if wanted and len(found) < limit:
                self._push(frontier, loaded, room_id, await self._stores.events.get_events(wanted))
        return await self._reads.pdus_for_server(origin, found)

    @staticmethod
    def _push(
        frontier: list[tuple[int, str]], loaded: dict[str, Event], room_id: str, events: dict[str, Event]
    ) -> None:
        for event in events.values():
            if event.room_id == room_id:
                loaded[event.event_id] = event
                heapq.heappush(frontier, (-event.depth, event.event_id))

    @staticmethod
    def _pop_layer(frontier: list[tuple[int, str]], loaded: dict[str, Event], room: int) -> list[Event]:
        """The events of the frontier's greatest depth, at most `room` of them not rejected
        (rejected events are walked through but not answered)."""
        depth = frontier[0][0]
        layer: list[Event] = []
        answered = 0
        while frontier and frontier[0][0] == depth and answered < room:
            event = loaded.pop(heapq.heappop(frontier)[1])
            layer.append(event)
            answered += event.rejected_reason is None
        return layer
