"""Presence (modules/presence.md, data/api/client-server/presence.yaml).

A local user's presence moves with what they do: PUT /presence sets it, a /sync marks
them online (or idle) as its `set_presence` asks, activity (`mark_active`) brings an idle
user back online. A periodic sweep marks users idle after IDLE_AFTER_MS without activity
and offline after GONE_AFTER_MS without any sign of a client. Every visible change is
persisted and moves the presence stream; users sharing a room with the subject are woken.

The precise last-active time lives in memory and is only persisted when it changes what
others see (currently_active), so a chatty user costs no write per message.

For /sync:
    `current_position()`
    `set_presence_from_sync(user_id, state)`   at the start of each /sync request
    `presence_for_user(user_id, since_pos, to_pos=None)` → m.presence events of the user
        and of everyone sharing a room with them, changed after `since_pos`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from veche.errors import bad_json, forbidden, invalid_param, not_found
from veche.services.notifier import Notifier
from veche.services.rooms.members import LocalMembers
from veche.services.streams import Stream
from veche.storage.accounts import AccountStore
from veche.storage.presence import PresenceStore, UserPresence
from veche.storage.rooms import RoomStore

logger = logging.getLogger(__name__)

ONLINE = "online"
UNAVAILABLE = "unavailable"
OFFLINE = "offline"
PRESENCE_STATES = (ONLINE, UNAVAILABLE, OFFLINE)

# presence.md "Idle timeout" suggests 5 minutes.
IDLE_AFTER_MS = 5 * 60_000
# Activity within this window counts as currently_active.
ACTIVE_WINDOW_MS = 60_000
# Long enough to cover the wait of a long-polling /sync and the client's next request.
GONE_AFTER_MS = 90_000
SWEEP_INTERVAL_S = 15.0


class PresenceService:
    def __init__(
        self,
        store: PresenceStore,
        rooms: RoomStore,
        members: LocalMembers,
        accounts: AccountStore,
        notifier: Notifier,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._members = members
        self._accounts = accounts
        self._notifier = notifier
        self._clock = clock
        # Local users not offline: their latest persisted presence.
        self._live: dict[str, UserPresence] = {}
        # Precise times, ahead of what is persisted.
        self._last_active: dict[str, int] = {}
        self._last_seen: dict[str, int] = {}
        # Online users last announced with currently_active true.
        self._announced_active: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        notifier.advance(Stream.PRESENCE, store.current_position)
        # Called with (user_id, m.presence content) on each change of a local user's
        # presence (federation tells the servers sharing a room with them).
        self.on_local_change: list[Callable[[str, dict[str, Any]], Awaitable[None]]] = []

    def current_position(self) -> int:
        return self._store.current_position

    async def start(self) -> None:
        """Resume the users left online or idle by the previous run and start the sweep."""
        now = self._now()
        for presence in await self._store.get_not_offline():
            self._live[presence.user_id] = presence
            self._last_active[presence.user_id] = presence.last_active_ts
            # Give their clients the usual grace to come back before marking them offline.
            self._last_seen[presence.user_id] = now
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def set_status(self, user_id: str, state: str, status_msg: str | None) -> None:
        """PUT /presence/{userId}/status: setting a status is itself activity."""
        if state not in PRESENCE_STATES:
            raise bad_json(f"presence must be one of {', '.join(PRESENCE_STATES)}")
        now = self._now()
        self._last_seen[user_id] = now
        await self._persist(user_id, state, status_msg, now)

    async def get_status(self, requester_id: str, user_id: str) -> dict[str, Any]:
        """GET /presence/{userId}/status: for the user themself and those sharing a room."""
        if requester_id != user_id and not await self._share_a_room(requester_id, user_id):
            raise forbidden("You are not allowed to see their presence")
        presence = self._live.get(user_id) or await self._store.get(user_id)
        if presence is None:
            if not await self._accounts.user_id_exists(user_id):
                raise not_found(f"No presence is known for {user_id}")
            return {"presence": OFFLINE}
        return self._content(presence)

    async def set_presence_from_sync(self, user_id: str, state: str) -> None:
        """The `set_presence` of a /sync request (sync.yaml): offline leaves presence alone."""
        if state not in PRESENCE_STATES:
            raise invalid_param(f"set_presence must be one of {', '.join(PRESENCE_STATES)}")
        now = self._now()
        self._last_seen[user_id] = now
        current = self._live.get(user_id)
        current_state = current.state if current is not None else OFFLINE
        status_msg = current.status_msg if current is not None else await self._status_msg(user_id)
        if state == ONLINE and current_state == OFFLINE:
            await self._persist(user_id, ONLINE, status_msg, now)
        elif state == UNAVAILABLE and current_state != UNAVAILABLE:
            last_active = self._last_active.get(user_id, now)
            await self._persist(user_id, UNAVAILABLE, status_msg, last_active)

    async def mark_active(self, user_id: str) -> None:
        """A pro-active action (e.g. sending a message) by a local user."""
        now = self._now()
        self._last_seen[user_id] = now
        self._last_active[user_id] = now
        current = self._live.get(user_id)
        if current is None or current.state != ONLINE:
            status_msg = current.status_msg if current is not None else await self._status_msg(user_id)
            await self._persist(user_id, ONLINE, status_msg, now)
        elif user_id not in self._announced_active:
            # Others were told (or will be) that the user went quiet; tell them otherwise.
            await self._persist(user_id, ONLINE, current.status_msg, now)

    async def presence_for_user(
        self, user_id: str, since_pos: int, to_pos: int | None = None
    ) -> list[dict[str, Any]]:
        to = self.current_position() if to_pos is None else to_pos
        changed = self._store.users_changed_since(since_pos)
        if changed is not None and not changed:
            return []
        users = await self._users_sharing_rooms(user_id)
        users.add(user_id)
        if changed is not None:
            users &= changed
        return [
            {"type": "m.presence", "sender": p.user_id, "content": self._content(p)}
            for p in await self._store.get_changes(users, since_pos, to)
        ]

    async def sweep(self) -> None:
        """Time out users: online → unavailable when idle, anything → offline when gone."""
        now = self._now()
        for user_id, presence in list(self._live.items()):
            last_active = self._last_active.get(user_id, presence.last_active_ts)
            if now - self._last_seen.get(user_id, now) >= GONE_AFTER_MS:
                await self._persist(user_id, OFFLINE, presence.status_msg, last_active)
            elif presence.state == ONLINE and now - last_active >= IDLE_AFTER_MS:
                await self._persist(user_id, UNAVAILABLE, presence.status_msg, last_active)
            elif user_id in self._announced_active and now - last_active >= ACTIVE_WINDOW_MS:
                # presence.md: after currently_active was announced, an update saying it
                # ended must follow.
                await self._persist(user_id, ONLINE, presence.status_msg, last_active)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.sweep()
            except Exception:
                logger.exception("Presence sweep failed")

    async def receive_remote_presence(
        self, user_id: str, state: str, status_msg: str | None, last_active_ts: int
    ) -> None:
        """A remote user's presence from an m.presence EDU (the caller checked that the
        sending server is the user's); ignored unless a local user shares a room with
        them, as no one here may see it otherwise (server-server-api.md "Presence")."""
        if state not in PRESENCE_STATES:
            return
        watchers = await self._local_users_sharing_rooms(user_id)
        if not watchers:
            return
        presence = await self._store.put(user_id, state, status_msg, last_active_ts)
        self._notifier.notify(
            Stream.PRESENCE, presence.stream_id, watchers, visible_upto=self._store.current_position
        )

    async def _persist(self, user_id: str, state: str, status_msg: str | None, last_active_ts: int) -> None:
        presence = await self._store.put(user_id, state, status_msg, last_active_ts)
        self._last_active[user_id] = last_active_ts
        if state == ONLINE and self._now() - last_active_ts < ACTIVE_WINDOW_MS:
            self._announced_active.add(user_id)
        else:
            self._announced_active.discard(user_id)
        if state == OFFLINE:
            self._live.pop(user_id, None)
            self._last_seen.pop(user_id, None)
        else:
            self._live[user_id] = presence
        users = await self._local_users_sharing_rooms(user_id)
        users.add(user_id)
        self._notifier.notify(
            Stream.PRESENCE, presence.stream_id, users, visible_upto=self._store.current_position
        )
        for hook in self.on_local_change:
            await hook(user_id, self._content(presence))

    def _content(self, presence: UserPresence) -> dict[str, Any]:
        last_active = self._last_active.get(presence.user_id, presence.last_active_ts)
        ago = max(0, self._now() - last_active)
        content: dict[str, Any] = {"presence": presence.state, "last_active_ago": ago}
        if presence.state == ONLINE:
            content["currently_active"] = ago < ACTIVE_WINDOW_MS
        if presence.status_msg is not None:
            content["status_msg"] = presence.status_msg
        return content

    async def _status_msg(self, user_id: str) -> str | None:
        stored = await self._store.get(user_id)
        return stored.status_msg if stored is not None else None

    async def _share_a_room(self, user_a: str, user_b: str) -> bool:
        rooms_a = set(await self._rooms.get_rooms_for_user(user_a))
        return any(room in rooms_a for room in await self._rooms.get_rooms_for_user(user_b))

    async def _users_sharing_rooms(self, user_id: str) -> set[str]:
        members = await self._rooms.get_many_joined_members(await self._rooms.get_rooms_for_user(user_id))
        return set().union(*members.values())

    async def _local_users_sharing_rooms(self, user_id: str) -> set[str]:
        joined = await self._members.joined_many(await self._rooms.get_rooms_for_user(user_id))
        return set().union(*joined.values())

    def _now(self) -> int:
        return int(self._clock() * 1000)

