"""Delivering PDUs and EDUs to other servers in transactions (server-server-api.md,
"Transactions"), through a persistent per-destination queue (storage/outbox.py).

Each destination has at most one sending task and so one transaction in flight. The
task takes the oldest queued entries (at most 50 PDUs and 100 EDUs, in queue order),
PUTs them as one transaction and, once the destination answers 200, removes them. When
the destination cannot be reached or answers with a server error, the task waits with
exponential back-off (kept in the database, capped at an hour) and tries again with the
same entries; a successful transaction resets the back-off. A transaction's ID is derived
from the positions of its entries, so a retry after a lost answer reuses it and the
receiver answers from its record rather than processing it twice.

After a restart, `start()` resumes every destination that still has entries. Hearing from
a destination (`peer_is_back`) cuts its back-off short.

    await outbox.send_pdu(destinations, event_id)
    await outbox.send_edu(destination, edu_type, content)
    await outbox.send_edus([(destination, edu_type, content), ...])
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from veche.services.federation.client import FederationClient, FederationError, FederationHttpError, federation_path
from veche.storage.events import EventStore
from veche.storage.outbox import Backoff, OutboxEntry, OutboxStore

logger = logging.getLogger(__name__)

SEND_PATH = "/_matrix/federation/v1/send/{}"
MAX_PDUS = 50
MAX_EDUS = 100
INITIAL_RETRY_MS = 5_000
MAX_RETRY_MS = 60 * 60 * 1000
# Answers that will not change on retry: the transaction is dropped rather than stuck.
_PERMANENT_STATUSES = frozenset({400, 403, 404, 405, 413})


def _now_ms() -> int:
    return int(time.time() * 1000)


class FederationOutbox:
    def __init__(
        self,
        *,
        server_name: str,
        store: OutboxStore,
        events: EventStore,
        client: FederationClient,
        clock: Callable[[], int] = _now_ms,
        initial_retry_ms: int = INITIAL_RETRY_MS,
        max_retry_ms: int = MAX_RETRY_MS,
    ) -> None:
        self._server_name = server_name
        self._store = store
        self._events = events
        self._client = client
        self._clock = clock
        self._initial_retry_ms = initial_retry_ms
        self._max_retry_ms = max_retry_ms
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Set when entries arrive while a destination's task is busy, so it looks again.
        self._more: set[str] = set()
        self._wake: dict[str, asyncio.Event] = {}
        self._stopping = False

    async def start(self) -> None:
        for destination in await self._store.destinations_with_entries():
            self._kick(destination)

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def send_pdu(self, destinations: Iterable[str], event_id: str) -> None:
        targets = sorted({d for d in destinations if d != self._server_name})
        if targets:
            await self._store.add_pdu(targets, event_id)
            for destination in targets:
                self._kick(destination)

    async def send_edu(self, destination: str, edu_type: str, content: dict[str, Any]) -> None:
        await self.send_edus([(destination, edu_type, content)])

    async def send_edus(self, edus: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Queue EDUs given as (destination, edu_type, content)."""
        entries = [
            (destination, {"edu_type": edu_type, "content": content})
            for destination, edu_type, content in edus
            if destination != self._server_name
        ]
        if entries:
            await self._store.add_edus(entries)
            for destination in {destination for destination, _ in entries}:
                self._kick(destination)

    async def peer_is_back(self, destination: str) -> None:
        """`destination` just reached us, so it is up: retry it now rather than later."""
        if await self._store.get_backoff(destination) is None:
            return
        await self._store.clear_backoff(destination)
        wake = self._wake.get(destination)
        if wake is not None:
            wake.set()
        self._kick(destination)

    async def idle(self) -> None:
        """Wait until no destination has a sending task (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _kick(self, destination: str) -> None:
        if self._stopping:
            return
        task = self._tasks.get(destination)
        if task is not None and not task.done():
            self._more.add(destination)
            return
        self._tasks[destination] = asyncio.create_task(self._run(destination), name=f"outbox {destination}")

    async def _run(self, destination: str) -> None:
        try:
            while True:
                await self._wait_for_backoff(destination)
                self._more.discard(destination)
                entries = await self._store.pending(destination, MAX_PDUS + MAX_EDUS)
                if not entries:
                    if destination in self._more:
                        continue
                    return
                try:
                    await self._send(destination, _batch(entries))
                except Exception as e:
                    logger.exception("Sending to %s failed unexpectedly", destination)
                    await self._back_off(destination, e)
        finally:
            if self._tasks.get(destination) is asyncio.current_task():
                del self._tasks[destination]

    async def _wait_for_backoff(self, destination: str) -> None:
        while True:
            backoff = await self._store.get_backoff(destination)
            delay_ms = backoff.retry_at_ts - self._clock() if backoff is not None else 0
            if delay_ms <= 0:
                return
            wake = self._wake.setdefault(destination, asyncio.Event())
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), delay_ms / 1000)
            except TimeoutError:
                pass

    async def _send(self, destination: str, entries: list[OutboxEntry]) -> None:
        event_ids = [entry.event_id for entry in entries if entry.event_id is not None]
        events = await self._events.get_events(event_ids)
        body = {
            "origin": self._server_name,
            "origin_server_ts": self._clock(),
            "pdus": [events[event_id].pdu for event_id in event_ids if event_id in events],
            "edus": [entry.edu for entry in entries if entry.edu is not None],
        }
        txn_id = f"{entries[0].position}-{entries[-1].position}"
        try:
            answer = await self._client.put_json(destination, federation_path(SEND_PATH, txn_id), body)
        except FederationHttpError as e:
            if e.status not in _PERMANENT_STATUSES:
                await self._back_off(destination, e)
                return
            logger.warning("%s refused transaction %s for good: %s", destination, txn_id, e)
        except FederationError as e:
            await self._back_off(destination, e)
            return
        else:
            _log_refusals(destination, answer)
        await self._store.remove([entry.position for entry in entries])
        if await self._store.get_backoff(destination) is not None:
            await self._store.clear_backoff(destination)

    async def _back_off(self, destination: str, error: Exception) -> None:
        previous = await self._store.get_backoff(destination)
        interval = self._initial_retry_ms if previous is None else min(previous.retry_interval_ms * 2, self._max_retry_ms)
        logger.info("Cannot send to %s (%s); retrying in %d s", destination, error, interval // 1000)
        await self._store.set_backoff(destination, Backoff(interval, self._clock() + interval))


def _batch(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    """The longest prefix of `entries` within the transaction limits, so order is kept."""
    pdus = edus = 0
    for index, entry in enumerate(entries):
        if entry.event_id is not None:
            pdus += 1
        else:
            edus += 1
        if pdus > MAX_PDUS or edus > MAX_EDUS:
            return entries[:index]
    return entries


def _log_refusals(destination: str, answer: Any) -> None:
    results = answer.get("pdus") if isinstance(answer, dict) else None
    if not isinstance(results, dict):
        return
    for event_id, result in results.items():
        if isinstance(result, dict) and result.get("error"):
            logger.info("%s did not accept %s: %s", destination, event_id, result["error"])
