"""Handling PUT /_matrix/federation/v1/send/{txnId} (server-server-api.md "Transactions",
transactions.yaml).

A transaction is processed once per (origin, txnId): a retry gets the stored answer. An
origin's transactions are processed one at a time, as the spec has senders send them: one
sent while another is in hand waits for it (so a hostile peer cannot flood the server with
parallel transactions; `OriginLimiter` bounds how many may wait). Its
PDUs are handled independently (a bad one gets an error in the answer and does not stop
the others), rooms in parallel and each room's PDUs in depth order; then its EDUs. A PDU
withdrawing a local user's invite or knock in a room not held here is kept out of band
(withdrawals.py) rather than dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from veche.errors import MatrixError
from veche.protocol.events import Event
from veche.protocol.federation_checks import MAX_EDUS_PER_TRANSACTION, MAX_PDUS_PER_TRANSACTION
from veche.services.federation.edus import EduReceiver
from veche.services.federation.outbox import FederationOutbox
from veche.services.federation.receiver import PduError, PduReceiver
from veche.services.federation.withdrawals import WithdrawnMemberships
from veche.services.keyed_lock import KeyedLock
from veche.storage.federation_txns import ReceivedTransactionStore

logger = logging.getLogger(__name__)

# Answers to old transactions are forgotten after this long; senders retry far sooner.
REMEMBER_TRANSACTIONS_MS = 24 * 60 * 60 * 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


class TransactionHandler:
    def __init__(
        self,
        *,
        receiver: PduReceiver,
        edus: EduReceiver,
        store: ReceivedTransactionStore,
        outbox: FederationOutbox,
        withdrawals: WithdrawnMemberships,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._receiver = receiver
        self._withdrawals = withdrawals
        self._edus = edus
        self._store = store
        self._outbox = outbox
        self._clock = clock
        self._locks = KeyedLock()

    async def on_transaction(self, origin: str, txn_id: str, body: Any) -> dict[str, Any]:
        pdus, edus = _parse_body(body)
        await self._outbox.peer_is_back(origin)
        async with self._locks.hold(origin):
            answer = await self._store.get_response(origin, txn_id)
            if answer is not None:
                return answer
            answer = {"pdus": await self._receive_pdus(origin, pdus)}
            for edu in edus:
                await self._edus.receive(origin, edu)
            now = self._clock()
            await self._store.store_response(origin, txn_id, answer, now)
            await self._store.forget_before(now - REMEMBER_TRANSACTIONS_MS)
            return answer

    async def _receive_pdus(self, origin: str, pdus: list[Any]) -> dict[str, dict[str, str]]:
        results: dict[str, dict[str, str]] = {}
        by_room: dict[str, list[Event]] = {}
        for pdu in pdus:
            try:
                event = await self._receiver.parse(pdu)
            except PduError as e:
                logger.info("Dropping a PDU from %s: %s", origin, e.reason)
                if e.event_id is not None:
                    results[e.event_id] = {"error": e.reason}
                continue
            by_room.setdefault(event.room_id, []).append(event)

        async def receive_room(events: list[Event]) -> None:
            for event in sorted(events, key=lambda e: e.depth):
                try:
                    if await self._withdrawals.receive(origin, event):
                        results[event.event_id] = {}
                        continue
                    event = await self._receiver.receive_event(origin, event)
                except PduError as e:
                    logger.info("Dropping %s from %s: %s", event.event_id, origin, e.reason)
                    results[event.event_id] = {"error": e.reason}
                except Exception:
                    logger.exception("Processing %s from %s failed", event.event_id, origin)
                    results[event.event_id] = {"error": "internal error"}
                else:
                    results[event.event_id] = (
                        {"error": f"rejected: {event.rejected_reason}"} if event.rejected_reason else {}
                    )

        await asyncio.gather(*(receive_room(events) for events in by_room.values()))
        return results


def _parse_body(body: Any) -> tuple[list[Any], list[Any]]:
    if not isinstance(body, dict):
        raise MatrixError(400, "M_BAD_JSON", "A transaction must be a JSON object")
    pdus = body.get("pdus", [])
    edus = body.get("edus", [])
    if not isinstance(pdus, list) or not isinstance(edus, list):
        raise MatrixError(400, "M_BAD_JSON", "pdus and edus must be lists")
    if len(pdus) > MAX_PDUS_PER_TRANSACTION or len(edus) > MAX_EDUS_PER_TRANSACTION:
        raise MatrixError(
            400,
            "M_BAD_JSON",
            f"A transaction holds at most {MAX_PDUS_PER_TRANSACTION} PDUs and {MAX_EDUS_PER_TRANSACTION} EDUs",
        )
    return pdus, edus
