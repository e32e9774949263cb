"""Purging a deleted room: what the database holds of it goes in one transaction
(storage/room_purge.py), then what memory holds of it.

Left in memory on purpose: interned room and event IDs (their rows stay, see
storage/room_purge.py `KEPT`), the stream change caches (a room named there only makes a
reader look, and find nothing), the serializer's per-event-ID "untouched" marks (about
events that no longer exist; a redaction or relation naming one, should it ever come
back, drops its mark as usual), and the notifier's per-user positions. The sender's
per-room queue and the keyed locks hold nothing once the members' leaves are sent: they
remove their own entries."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from veche.services.rooms.members import LocalMembers
from veche.storage.push_actions import PushActionStore
from veche.storage.room_purge import RoomPurgeStore
from veche.storage.stores import EventStores
from veche.storage.stream_follower import StreamFollower


class RoomPurger:
    def __init__(
        self,
        *,
        store: RoomPurgeStore,
        stores: EventStores,
        followers: Sequence[StreamFollower],
        members: LocalMembers,
        push_actions: PushActionStore,
    ) -> None:
        self._store = store
        self._stores = stores
        self._followers = followers
        self._members = members
        self._push_actions = push_actions
        # The services above storage that cache something of rooms: each drops the room.
        self.on_purged: list[Callable[[str], None]] = []

    async def purge(self, room_id: str) -> None:
        async with contextlib.AsyncExitStack() as paused:
            for follower in self._followers:
                await paused.enter_async_context(follower.paused())
            purged = await self._store.purge(room_id)
        if purged.room_nid is not None:
            self._stores.events.forget_room(purged.room_nid, purged.event_ids)
            self._stores.state.forget_room(purged.room_nid)
        self._stores.rooms.memberships_changed(room_id, purged.user_ids, self._stores.events.current_stream_token)
        self._members.invalidate(room_id)
        self._push_actions.forget_room(room_id, purged.user_ids)
        for forget in self.on_purged:
            forget(room_id)
