"""Other servers' signing keys (table in migrations/0090_server_keys.sql).

The keyring (services/federation/keyring.py) keeps what it fetched here so that a restart
does not refetch every peer's keys, and the notary endpoint reads the stored responses to
serve them to others. A response replaces a stored key only if it is at least as fresh
(its valid_until_ts), so a notary's stale copy cannot undo a newer direct answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class StoredServerKey:
    server_name: str
    key_id: str
    verify_key: str  # unpadded base64
    valid_until_ts: int
    expired: bool
    fetched_ts: int


@dataclass(frozen=True, slots=True)
class KeyToStore:
    key_id: str
    verify_key: str  # unpadded base64
    valid_until_ts: int
    expired: bool


class ServerKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def store_response(
        self,
        server_name: str,
        keys: Iterable[KeyToStore],
        *,
        response_json: str,
        response_valid_until_ts: int,
        fetched_ts: int,
        source: str,
    ) -> None:
        rows = [
            (
                server_name,
                key.key_id,
                key.verify_key,
                key.valid_until_ts,
                key.expired,
                response_valid_until_ts,
                fetched_ts,
                source,
                response_json,
            )
            for key in keys
        ]
        async with self._db.transaction() as txn:
            await txn.executemany(
                "INSERT INTO server_keys (server_name, key_id, verify_key, valid_until_ts,"
                " expired, response_valid_until_ts, fetched_ts, source, response_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (server_name, key_id) DO UPDATE SET"
                " verify_key = excluded.verify_key, valid_until_ts = excluded.valid_until_ts,"
                " expired = excluded.expired,"
                " response_valid_until_ts = excluded.response_valid_until_ts,"
                " fetched_ts = excluded.fetched_ts, source = excluded.source,"
                " response_json = excluded.response_json"
                " WHERE excluded.response_valid_until_ts >= server_keys.response_valid_until_ts",
                rows,
            )

    async def get_keys(self, server_name: str) -> list[StoredServerKey]:
        rows = await self._db.fetchall(
            "SELECT key_id, verify_key, valid_until_ts, expired, fetched_ts FROM server_keys"
            " WHERE server_name = ?",
            server_name,
        )
        return [
            StoredServerKey(server_name, row[0], row[1], row[2], bool(row[3]), row[4])
            for row in rows
        ]

    async def get_responses(self, server_name: str) -> dict[str, str]:
        """Key ID → the JSON text of the newest stored response that listed it."""
        rows = await self._db.fetchall(
            "SELECT key_id, response_json FROM server_keys WHERE server_name = ?", server_name
        )
        return {row[0]: row[1] for row in rows}
