"""Transactions received from other servers (table in migrations/0100_federation_outbox.sql),
so that a retried PUT /send/{txnId} is answered as before and processed once."""

from __future__ import annotations

from typing import Any

import orjson

from veche.storage.database import Database


class ReceivedTransactionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_response(self, origin: str, txn_id: str) -> dict[str, Any] | None:
        raw = await self._db.fetchval(
            "SELECT response_json FROM federation_received_transactions WHERE origin = ? AND txn_id = ?",
            origin,
            txn_id,
        )
        return orjson.loads(raw) if raw is not None else None

    async def store_response(self, origin: str, txn_id: str, response: dict[str, Any], now_ms: int) -> None:
        await self._db.execute(
            "INSERT INTO federation_received_transactions (origin, txn_id, response_json, received_ts)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (origin, txn_id) DO NOTHING",
            origin,
            txn_id,
            orjson.dumps(response).decode(),
            now_ms,
        )

    async def forget_before(self, ts: int) -> None:
        await self._db.execute("DELETE FROM federation_received_transactions WHERE received_ts < ?", ts)
