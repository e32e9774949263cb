"""Unread notification counts and the /notifications listing, over the stored push actions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from veche.errors import invalid_param
from veche.services.rooms.serving import EventSerializer
from veche.storage.accounts import TokenInfo
from veche.storage.events import EventStore
from veche.storage.push_actions import Counts, PushActionStore
from veche.storage.receipts import ReceiptStore

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def counts_json(counts: Counts | None) -> dict[str, int]:
    if counts is None:
        return {"notification_count": 0, "highlight_count": 0}
    return {"notification_count": counts.notifications, "highlight_count": counts.highlights}


def sum_counts(counts: Sequence[Counts]) -> Counts:
    return Counts(sum(c.notifications for c in counts), sum(c.highlights for c in counts))


class NotificationCounts:
    def __init__(
        self,
        actions: PushActionStore,
        receipts: ReceiptStore,
        events: EventStore,
        serializer: EventSerializer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._actions = actions
        self._receipts = receipts
        self._events = events
        self._serializer = serializer
        self._clock = clock

    async def unread(self, user_id: str, room_ids: Sequence[str], upto: int) -> dict[str, dict[str, Counts]]:
        """room ID → thread ('main' or a root event ID) → unread counts (rooms with any)."""
        return await self._actions.unread_counts(user_id, room_ids, upto)

    async def rooms_read_between(self, user_id: str, since: int, upto: int) -> set[str]:
        """Rooms whose read receipt by the user moved within (since, upto] of the receipts stream."""
        if not self._receipts.user_may_have_changed(user_id, since):
            return set()
        return await self._actions.rooms_read_between(user_id, since, upto)

    async def total_unread(self, user_id: str) -> int:
        return await self._actions.total_unread(user_id)

    async def list_notifications(
        self, requester: TokenInfo, *, from_token: str | None, limit: int | None, only: str | None
    ) -> dict[str, Any]:
        """GET /notifications (notifications.yaml), newest first."""
        before = None
        if from_token is not None:
            try:
                before = int(from_token)
            except ValueError:
                raise invalid_param("Invalid 'from' token") from None
            # Stream positions are 64-bit; a larger number cannot be bound as a parameter.
            if not 0 <= before < 2**63:
                raise invalid_param("Invalid 'from' token")
        wanted = DEFAULT_LIMIT if limit is None else max(1, min(limit, MAX_LIMIT))
        rows = await self._actions.get_notifications(
            requester.user_id, before=before, limit=wanted, only_highlight=only == "highlight"
        )
        events = await self._events.get_events(r.event_id for r in rows)
        present = [r for r in rows if r.event_id in events]
        served = await self._serializer.serialize(
            [events[r.event_id] for r in present],
            requester=requester,
            include_room_id=False,
            now_ms=int(self._clock() * 1000),
        )
        response: dict[str, Any] = {
            "notifications": [
                {"actions": r.actions, "event": event, "read": r.read, "room_id": r.room_id, "ts": r.ts}
                for r, event in zip(present, served)
            ]
        }
        if len(rows) == wanted:
            response["next_token"] = str(rows[-1].stream_ordering)
        return response

