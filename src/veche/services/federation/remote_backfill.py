"""Fetching a room's older history from the other servers in it (server-server-api.md,
"Backfilling and retrieving missing events"; backfill.yaml), for /messages paginating
back past what this server holds (client-server-api/_index.md, "Pagination").

The holes are the room's backward extremities: events timeline events cite as prev events
but this server lacks (after a remote join, the join's prev events). When a page of
/messages reaches one, `fill_history` asks the room's servers, most populated first, for
the events before the deepest few holes, and stops at the first that answers with events
new to us; `PduReceiver.receive_backfilled` checks and stores them below the live stream.

The work per request is bounded (events asked for, servers tried, a time limit), and
holes no server filled are left alone for a while rather than asked about on every page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.client import FederationError
from veche.services.federation.missing_events import RemoteEvents
from veche.services.federation.receiver import PduReceiver
from veche.services.federation.sender import server_of
from veche.services.keyed_lock import KeyedLock
from veche.storage.cache import LruCache
from veche.storage.stores import EventStores

logger = logging.getLogger(__name__)

# Holes asked about at once: the deepest few are where the reader is.
MAX_EXTREMITIES = 5
MAX_SERVERS_TRIED = 5
# Events asked for per request: at least a page's worth, at most what servers serve.
MIN_EVENTS = 20
MAX_EVENTS = 100
# One server's answer, checked and stored, within this time; the whole fill within twice.
SERVER_TIMEOUT_SECONDS = 15.0
FILL_TIMEOUT_SECONDS = 30.0
# Holes no server filled are not asked about again for this long.
FRUITLESS_SECONDS = 300.0
FRUITLESS_ROOMS = 10_000


class RemoteBackfill:
    def __init__(
        self,
        *,
        server_name: str,
        stores: EventStores,
        remote: RemoteEvents,
        receiver: PduReceiver,
        acl: ServerAclChecker,
    ) -> None:
        self._server_name = server_name
        self._stores = stores
        self._remote = remote
        self._receiver = receiver
        self._acl = acl
        self._locks = KeyedLock()
        # room ID → (holes no server filled, when that was learned)
        self._fruitless: LruCache[str, tuple[frozenset[str], float]] = LruCache(FRUITLESS_ROOMS)

    def forget_room(self, room_id: str) -> None:
        self._fruitless.pop(room_id)

    async def fill_history(self, room_id: str, upto_depth: int, below_depth: int | None, limit: int) -> bool:
        """Backfill the holes cited at or above `below_depth` (None: any) and at or below
        `upto_depth`, which is where a /messages page read; True if the timeline gained events."""
        holes = await self._holes(room_id, upto_depth, below_depth)
        if not holes:
            return False
        try:
            async with asyncio.timeout(FILL_TIMEOUT_SECONDS):
                async with self._locks.hold(room_id):
                    # Another request may have filled them meanwhile.
                    now_holes = await self._holes(room_id, upto_depth, below_depth)
                    if now_holes != holes:
                        return True
                    return await self._ask_servers(room_id, holes, limit)
        except TimeoutError:
            logger.info("Backfilling %s timed out", room_id)
            self._fruitless.set(room_id, (frozenset(holes), time.monotonic()))
            return False

    async def _holes(self, room_id: str, upto_depth: int, below_depth: int | None) -> list[str]:
        extremities = await self._stores.events.get_backward_extremities(room_id, upto_depth)
        holes = [
            event_id for event_id, child_depth in extremities if below_depth is None or child_depth > below_depth
        ][:MAX_EXTREMITIES]
        fruitless = self._fruitless.get(room_id)
        if fruitless is not None and frozenset(holes) <= fruitless[0]:
            if time.monotonic() - fruitless[1] < FRUITLESS_SECONDS:
                return []
        return holes

    async def _ask_servers(self, room_id: str, holes: list[str], limit: int) -> bool:
        wanted = max(MIN_EVENTS, min(limit, MAX_EVENTS))
        for server in (await self._servers(room_id))[:MAX_SERVERS_TRIED]:
            try:
                async with asyncio.timeout(SERVER_TIMEOUT_SECONDS):
                    pdus = await self._remote.backfill(
                        server, room_id, holes, wanted, timeout=SERVER_TIMEOUT_SECONDS
                    )
                    stored = await self._receiver.receive_backfilled(server, room_id, pdus)
            except FederationError as e:
                logger.info("Backfill of %s from %s failed: %s", room_id, server, e)
                continue
            except TimeoutError:
                logger.info("Backfill of %s from %s timed out", room_id, server)
                continue
            if stored:
                logger.info("Backfilled %d events of %s from %s", len(stored), room_id, server)
                return True
        self._fruitless.set(room_id, (frozenset(holes), time.monotonic()))
        return False

    async def _servers(self, room_id: str) -> list[str]:
        """The room's other servers allowed by its ACL, those with most joined users first
        (the likeliest to hold its whole history)."""
        members = Counter(server_of(user_id) for user_id in await self._stores.rooms.get_joined_members(room_id))
        members.pop(self._server_name, None)
        ordered = sorted(members, key=lambda server: (-members[server], server))
        return [server for server in ordered if await self._acl.is_allowed(room_id, server)]
