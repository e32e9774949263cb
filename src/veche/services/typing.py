"""Typing notifications (modules/typing_notifications.md), kept in memory only.

Who is typing is short-lived by nature, so nothing is persisted: each room holds its
typers with their expiry, and the typing stream is a counter bumped whenever a room's
set of typers changes (a start, a stop, an expiry). A timer per room drops expired
typers and wakes the room's syncs, so clients hear that someone stopped.

For /sync:
    `current_position()`
    `typing_for_rooms(room_ids, since_pos)` → {room_id: m.typing event}, only rooms whose
        typers changed after `since_pos`; every room with typers when since_pos is 0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from veche.errors import forbidden
from veche.services.notifier import Notifier
from veche.services.rooms.members import LocalMembers
from veche.services.streams import Stream

# Clients re-send typing every 20-30 s (typing_notifications.md); a longer request is
# capped so an abandoned client does not show as typing for long.
MAX_TIMEOUT_MS = 120_000
DEFAULT_TIMEOUT_MS = 30_000


class TypingService:
    def __init__(
        self,
        members: LocalMembers,
        notifier: Notifier,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._members = members
        self._notifier = notifier
        self._clock = clock
        self._position = 0
        # room ID → user ID → expiry (clock seconds)
        self._typers: dict[str, dict[str, float]] = {}
        # room ID → the position of the room's latest change
        self._changed_at: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Called with (room_id, user_id, typing, timeout_ms) when a local user starts or
        # stops typing (federation tells the room's other servers).
        self.on_local_change: list[Callable[[str, str, bool, int], Awaitable[None]]] = []
        # Called with (room_id, the user IDs typing now, the room's joined local users)
        # whenever who is typing in a room changes (application services' ephemeral data).
        self.on_change: list[Callable[[str, list[str], frozenset[str]], None]] = []

    def current_position(self) -> int:
        return self._position

    async def set_typing(self, room_id: str, user_id: str, typing: bool, timeout_ms: int | None) -> None:
        """A local user starts (for `timeout_ms`) or stops typing; they must be joined."""
        joined = await self._members.joined(room_id)
        if user_id not in joined:
            raise forbidden("You are not joined to this room")
        timeout = min(DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms, MAX_TIMEOUT_MS)
        self._set(room_id, user_id, typing, timeout, joined)
        for hook in self.on_local_change:
            await hook(room_id, user_id, typing, timeout)

    async def set_remote_typing(self, room_id: str, user_id: str, typing: bool, timeout_ms: int) -> None:
        """A remote user's m.typing EDU; the caller checked that they are in the room."""
        self._set(room_id, user_id, typing, min(timeout_ms, MAX_TIMEOUT_MS), await self._members.joined(room_id))

    def _set(self, room_id: str, user_id: str, typing: bool, timeout: int, joined: Iterable[str]) -> None:
        typers = self._typers.setdefault(room_id, {})
        was_typing = user_id in typers
        if typing:
            typers[user_id] = self._clock() + timeout / 1000
        else:
            typers.pop(user_id, None)
        self._schedule_expiry(room_id)
        # Renewing a typer changes nothing clients see, so it moves no stream.
        if typing != was_typing:
            self._notifier.notify(Stream.TYPING, self._bump(room_id), joined)
            for listener in self.on_change:
                listener(room_id, list(typers), frozenset(joined))

    def typing_for_rooms(self, room_ids: Iterable[str], since_pos: int) -> dict[str, dict[str, Any]]:
        # A token from before a restart is ahead of the fresh counter: answer as if initial.
        initial = since_pos == 0 or since_pos > self._position
        now = self._clock()
        result: dict[str, dict[str, Any]] = {}
        for room_id in room_ids:
            typers = [u for u, expiry in self._typers.get(room_id, {}).items() if expiry > now]
            if initial:
                if not typers:
                    continue
            elif self._changed_at.get(room_id, 0) <= since_pos:
                continue
            result[room_id] = {"type": "m.typing", "content": {"user_ids": sorted(typers)}}
        return result

    def forget_room(self, room_id: str) -> None:
        """A purged room: its typers go without an announcement (nobody local is in it)."""
        self._typers.pop(room_id, None)
        self._changed_at.pop(room_id, None)
        timer = self._timers.pop(room_id, None)
        if timer is not None:
            timer.cancel()

    async def expire_due(self) -> None:
        """Drop every typer whose time ran out and announce the rooms that changed."""
        for room_id in list(self._typers):
            await self._expire_room(room_id)

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    async def _expire_room(self, room_id: str) -> None:
        typers = self._typers.get(room_id)
        if typers is None:
            return
        now = self._clock()
        expired = [u for u, expiry in typers.items() if expiry <= now]
        for user_id in expired:
            del typers[user_id]
        self._schedule_expiry(room_id)
        if expired:
            position = self._bump(room_id)
            joined = await self._members.joined(room_id)
            self._notifier.notify(Stream.TYPING, position, joined)
            for listener in self.on_change:
                listener(room_id, list(typers), joined)

    def _bump(self, room_id: str) -> int:
        self._position += 1
        self._changed_at[room_id] = self._position
        if not self._typers.get(room_id):
            self._typers.pop(room_id, None)
        return self._position

    def _on_timer(self, room_id: str) -> None:
        self._timers.pop(room_id, None)
        task = asyncio.get_running_loop().create_task(self._expire_room(room_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule_expiry(self, room_id: str) -> None:
        handle = self._timers.pop(room_id, None)
        if handle is not None:
            handle.cancel()
        typers = self._typers.get(room_id)
        if not typers:
            return
        delay = max(0.0, min(typers.values()) - self._clock())
        loop = asyncio.get_running_loop()
        self._timers[room_id] = loop.call_later(delay, self._on_timer, room_id)
