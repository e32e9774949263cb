"""Unread notification counts for the joined rooms of a /sync response.

A room gets `unread_notifications` (and, when the filter asks for
`unread_thread_notifications`, per-thread counts with the main timeline's apart) when it is
in the response anyway, or when the user's read receipt in it moved since the last sync:
a count going back to zero must reach the client even if nothing else happened there.
"""

from __future__ import annotations

from typing import Any

from veche.services.push.counts import NotificationCounts, counts_json, sum_counts
from veche.services.streams import Stream
from veche.services.sync.rooms import SyncRequest, empty_joined_room
from veche.storage.push_actions import MAIN_THREAD


class NotificationSections:
    def __init__(self, counts: NotificationCounts) -> None:
        self._counts = counts

    async def __call__(self, request: SyncRequest, response: dict[str, Any]) -> None:
        joined = response["rooms"]["join"]
        room_filter = request.filter.room
        wanted = set(joined)
        if request.since is not None and not request.full_state and Stream.RECEIPTS not in request.quiet:
            read = await self._counts.rooms_read_between(request.user_id, request.since.receipts, request.now.receipts)
            wanted |= read & {r for r in request.joined_room_ids if room_filter.matches_room(r)}
        if not wanted:
            return
        counts = await self._counts.unread(request.user_id, sorted(wanted), request.now.events)
        per_thread = room_filter.timeline.unread_thread_notifications
        for room_id in wanted:
            room = joined.setdefault(room_id, empty_joined_room(request.now))
            threads = counts.get(room_id, {})
            if not per_thread:
                room["unread_notifications"] = counts_json(sum_counts(list(threads.values())))
                continue
            room["unread_notifications"] = counts_json(threads.get(MAIN_THREAD))
            by_thread = {
                root: counts_json(c) for root, c in threads.items() if root != MAIN_THREAD and c.notifications
            }
            if by_thread:
                room["unread_thread_notifications"] = by_thread
