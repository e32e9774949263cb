"""Wakes long-polling requests (/sync, /events) when a stream they can see moves.

This is the one place that knows about waiting clients. Writers report *who* a change
concerns; each waiting request registered under that user wakes and reads the change
itself. A per-user record of the latest position that concerned the user closes the
race between "the request found nothing new" and "the request started waiting".
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterable

from veche.services.streams import Stream, StreamToken


class Notifier:
    def __init__(self) -> None:
        self._current = StreamToken()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        # Per stream, per user: the newest position that concerned the user. Plain ints in
        # mutable maps, since a busy room updates hundreds of users per event.
        self._last_change: dict[Stream, dict[str, int]] = {stream: {} for stream in Stream}
        # Per stream, changes persisted above the visible position: (position, users).
        self._pending: dict[Stream, list[tuple[int, tuple[str, ...]]]] = {}
        # What was persisted before this process started: changes up to here were never
        # announced, so the per-user records cannot vouch for tokens older than this.
        self._start_token = StreamToken()
        self._closed = False

    @property
    def current_token(self) -> StreamToken:
        """The newest position of every stream that has been announced."""
        return self._current

    def mark_started(self) -> None:
        """Call once every stream's writer has advanced it to its persisted position."""
        self._start_token = self._current

    def knows_changes_since(self, since: StreamToken) -> bool:
        """Whether `has_changes_since` is authoritative for a request holding `since`.

        Not for a token from before this process started, nor for one ahead of what it
        announced (an in-memory stream such as typing restarts its count)."""
        return not self._start_token.is_after(since) and not since.is_after(self._current)

    def close(self) -> None:
        """The server is stopping: end every wait now and let none start, so long-polling
        requests answer at once instead of holding the shutdown for their whole timeout."""
        self._closed = True
        waiters, self._waiters = self._waiters, {}
        for futures in waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)

    def advance(self, stream: Stream, position: int) -> None:
        """Record that `stream` reached `position` without waking anyone."""
        if position > self._current.get(stream):
            self._current = self._current.advance(stream, position)

    def notify(
        self, stream: Stream, position: int, user_ids: Iterable[str], *, visible_upto: int | None = None
    ) -> None:
        """`stream` reached `position` with data for `user_ids`: wake their requests.

        Writers of a stream may commit out of order; `visible_upto` is the position below
        which everything has committed. A change above it is held back until a later
        call makes it visible, so no request wakes to find nothing, and none sleeps
        through a change that was announced early.
        """
        if visible_upto is None:
            visible_upto = position
        pending = self._pending.setdefault(stream, [])
        heapq.heappush(pending, (position, tuple(user_ids)))
        self.advance(stream, visible_upto)
        while pending and pending[0][0] <= visible_upto:
            _, users = heapq.heappop(pending)
            self._wake(stream, visible_upto, users)

    def _wake(self, stream: Stream, position: int, user_ids: Iterable[str]) -> None:
        changes = self._last_change[stream]
        waiters = self._waiters
        for user_id in user_ids:
            if position > changes.get(user_id, 0):
                changes[user_id] = position
            for future in waiters.pop(user_id, ()):
                if not future.done():
                    future.set_result(None)

    def has_changes_since(self, user_id: str, since: StreamToken) -> bool:
        return any(
            changes.get(user_id, 0) > since.get(stream) for stream, changes in self._last_change.items()
        )

    def quiet_streams(self, user_id: str, since: StreamToken) -> frozenset[Stream]:
        """The streams on which nothing announced since `since` concerned `user_id`
        (authoritative only when `knows_changes_since(since)`). The events stream can be
        committed ahead of its announcement, so it is never among them."""
        return frozenset(
            stream
            for stream, changes in self._last_change.items()
            if stream is not Stream.EVENTS and changes.get(user_id, 0) <= since.get(stream)
        )

    async def wait_for_changes(self, user_id: str, since: StreamToken, timeout: float) -> bool:
        """Wait until something concerning `user_id` moves past `since`, or time out.

        Returns True if woken by a change, False on time-out or when the notifier closes.
        """
        if self.has_changes_since(user_id, since):
            return True
        if timeout <= 0 or self._closed:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(user_id, set()).add(future)
        try:
            await asyncio.wait_for(future, timeout)
            return not self._closed
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiters[user_id]
