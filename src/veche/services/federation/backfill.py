"""Serving /backfill to other servers (server-server-api.md "Backfilling and retrieving
missing events"; backfill.yaml): the given events and those before them, nearest first,
up to the limit, each as history visibility lets the asking server see it."""

from __future__ import annotations

import heapq
from typing import Any

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
        # Deepest first: a walk back through prev_events over the whole frontier at once.
        frontier: list[tuple[int, str]] = []
        for event in (await self._stores.events.get_events(from_ids)).values():
            if event.room_id == room_id:
                heapq.heappush(frontier, (-event.depth, event.event_id))
        found = []
        while frontier and len(found) < limit:
            _, event_id = heapq.heappop(frontier)
            event = await self._stores.events.get_event(event_id)
            if event is None:
                continue
            if event.rejected_reason is None:
                found.append(event)
            wanted = [p for p in event.prev_event_ids if p not in seen]
            seen.update(wanted)
            for prev in (await self._stores.events.get_events(wanted)).values():
                if prev.room_id == room_id:
                    heapq.heappush(frontier, (-prev.depth, prev.event_id))
        return await self._reads.pdus_for_server(origin, found)
