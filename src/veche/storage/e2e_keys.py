"""End-to-end keys: device identity keys, one-time and fallback keys, cross-signing keys
and uploaded signatures (tables in migrations/0060_e2e_keys.sql).

Keys are stored as the JSON text the client uploaded; callers check signatures and shapes
before storing. Claiming a one-time key deletes it in the same statement that returns it,
so no key is ever handed out twice, whatever the engine and however many claims race.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import Database

KeyJson = dict[str, Any]


@dataclass(frozen=True, slots=True)
class OneTimeKey:
    algorithm: str
    key_id: str
    key_json: str


@dataclass(frozen=True, slots=True)
class StoredSignature:
    signer_user_id: str
    signer_key_id: str
    target_user_id: str
    target_key_id: str
    signature: str


class E2eKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Device identity keys

    async def get_device_keys(self, user_id: str, device_id: str) -> KeyJson | None:
        text = await self._db.fetchval(
            "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?", user_id, device_id
        )
        return None if text is None else orjson.loads(text)

    async def get_users_device_keys(self, user_ids: Iterable[str]) -> dict[str, dict[str, KeyJson]]:
        """user ID → device ID → keys, for every device with keys of the given users."""
        rows = await self._db.fetchall(
            "SELECT user_id, device_id, key_json FROM e2e_device_keys WHERE user_id = ANY(?)", list(user_ids)
        )
        result: dict[str, dict[str, KeyJson]] = {}
        for user_id, device_id, text in rows:
            result.setdefault(user_id, {})[device_id] = orjson.loads(text)
        return result

    async def set_device_keys(self, user_id: str, device_id: str, keys: KeyJson) -> None:
        await self._db.execute(
            "INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json",
            user_id,
            device_id,
            _dumps(keys),
        )

    # One-time keys

    async def get_one_time_keys(
        self, user_id: str, device_id: str, key_ids: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """(algorithm, key ID) → stored JSON text, for those of `key_ids` still unclaimed."""
        if not key_ids:
            return {}
        rows = await self._db.fetchall(
            "SELECT algorithm, key_id, key_json FROM e2e_one_time_keys"
            " WHERE user_id = ? AND device_id = ? AND key_id = ANY(?)",
            user_id,
            device_id,
            sorted({key_id for _, key_id in key_ids}),
        )
        wanted = set(key_ids)
        return {(alg, kid): text for alg, kid, text in rows if (alg, kid) in wanted}

    async def add_one_time_keys(self, user_id: str, device_id: str, keys: Sequence[OneTimeKey]) -> None:
        """Adds the keys; one already held (same algorithm and ID) is left as it is."""
        if not keys:
            return
        async with self._db.transaction() as txn:
            await txn.executemany(
                "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING",
                [(user_id, device_id, k.algorithm, k.key_id, k.key_json) for k in keys],
            )

    async def count_one_time_keys(self, user_id: str, device_id: str) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT algorithm, COUNT(*) FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?"
            " GROUP BY algorithm",
            user_id,
            device_id,
        )
        return {algorithm: int(count) for algorithm, count in rows}

    async def claim_one_time_key(self, user_id: str, device_id: str, algorithm: str) -> tuple[str, KeyJson] | None:
        """Removes and returns the oldest unclaimed key of `algorithm`: (key ID, key)."""
        while True:
            # Two claims may pick the same row; the loser deletes nothing (PostgreSQL
            # re-checks the row after the winner commits) and tries the next key.
            async with self._db.transaction() as txn:
                row = await txn.fetchone(
                    "DELETE FROM e2e_one_time_keys WHERE id = ("
                    " SELECT id FROM e2e_one_time_keys"
                    " WHERE user_id = ? AND device_id = ? AND algorithm = ? ORDER BY id LIMIT 1"
                    ") RETURNING key_id, key_json",
                    user_id,
                    device_id,
                    algorithm,
                )
            if row is not None:
                return row[0], orjson.loads(row[1])
            remaining = await self._db.fetchval(
                "SELECT 1 FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? LIMIT 1",
                user_id,
                device_id,
                algorithm,
            )
            if remaining is None:
                return None

    # Fallback keys

    async def set_fallback_key(self, user_id: str, device_id: str, key: OneTimeKey) -> None:
        """Replaces the device's fallback key of that algorithm; the same key keeps its state."""
        await self._db.execute(
            "INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)"
            " VALUES (?, ?, ?, ?, ?, FALSE) ON CONFLICT (user_id, device_id, algorithm) DO UPDATE"
            " SET key_id = excluded.key_id, key_json = excluded.key_json, used = FALSE"
            " WHERE e2e_fallback_keys.key_id <> excluded.key_id"
            " OR e2e_fallback_keys.key_json <> excluded.key_json",
            user_id,
            device_id,
            key.algorithm,
            key.key_id,
            key.key_json,
        )

    async def claim_fallback_key(self, user_id: str, device_id: str, algorithm: str) -> tuple[str, KeyJson] | None:
        async with self._db.transaction() as txn:
            row = await txn.fetchone(
                "UPDATE e2e_fallback_keys SET used = TRUE"
                " WHERE user_id = ? AND device_id = ? AND algorithm = ? RETURNING key_id, key_json",
                user_id,
                device_id,
                algorithm,
            )
        return None if row is None else (row[0], orjson.loads(row[1]))

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT algorithm FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND used = FALSE"
            " ORDER BY algorithm",
            user_id,
            device_id,
        )
        return [algorithm for (algorithm,) in rows]

    # Cross-signing keys and signatures

    async def get_cross_signing_keys(self, user_ids: Iterable[str]) -> dict[str, dict[str, KeyJson]]:
        """user ID → key type ('master', 'self_signing', 'user_signing') → key."""
        rows = await self._db.fetchall(
            "SELECT user_id, key_type, key_json FROM e2e_cross_signing_keys WHERE user_id = ANY(?)",
            list(user_ids),
        )
        result: dict[str, dict[str, KeyJson]] = {}
        for user_id, key_type, text in rows:
            result.setdefault(user_id, {})[key_type] = orjson.loads(text)
        return result

    async def set_cross_signing_keys(self, user_id: str, keys: dict[str, tuple[str, KeyJson]]) -> None:
        """Stores key type → (public key, key) for the user, all in one transaction.

        A new master key makes every signature by the user's old cross-signing keys and
        every signature on them meaningless; they are dropped with it.
        """
        async with self._db.transaction() as txn:
            old = dict(
                await txn.fetchall(
                    "SELECT key_type, public_key FROM e2e_cross_signing_keys WHERE user_id = ?", user_id
                )
            )
            replaced = [old[t] for t, (public_key, _) in keys.items() if t in old and old[t] != public_key]
            if replaced:
                await txn.execute(
                    "DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key_id = ANY(?)",
                    user_id,
                    replaced,
                )
                await txn.execute(
                    "DELETE FROM e2e_signatures WHERE signer_user_id = ? AND signer_key_id = ANY(?)",
                    user_id,
                    [f"ed25519:{key}" for key in replaced],
                )
            await txn.executemany(
                "INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (user_id, key_type) DO UPDATE"
                " SET public_key = excluded.public_key, key_json = excluded.key_json",
                [(user_id, t, public_key, _dumps(key)) for t, (public_key, key) in keys.items()],
            )

    async def add_signatures(self, signatures: Sequence[StoredSignature]) -> None:
        if not signatures:
            return
        async with self._db.transaction() as txn:
            await txn.executemany(
                "INSERT INTO e2e_signatures"
                " (signer_user_id, signer_key_id, target_user_id, target_key_id, signature)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id)"
                " DO UPDATE SET signature = excluded.signature",
                [
                    (s.signer_user_id, s.signer_key_id, s.target_user_id, s.target_key_id, s.signature)
                    for s in signatures
                ],
            )

    async def get_signatures(self, target_user_ids: Iterable[str]) -> list[StoredSignature]:
        rows = await self._db.fetchall(
            "SELECT signer_user_id, signer_key_id, target_user_id, target_key_id, signature"
            " FROM e2e_signatures WHERE target_user_id = ANY(?)",
            list(target_user_ids),
        )
        return [StoredSignature(*row) for row in rows]

    # Devices going away

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> bool:
        """Removes every key of the devices; True if any of them had identity keys."""
        async with self._db.transaction() as txn:
            had_keys = await txn.execute(
                "DELETE FROM e2e_device_keys WHERE user_id = ? AND device_id = ANY(?)", user_id, list(device_ids)
            )
            for table in ("e2e_one_time_keys", "e2e_fallback_keys"):
                await txn.execute(
                    f"DELETE FROM {table} WHERE user_id = ? AND device_id = ANY(?)", user_id, list(device_ids)
                )
            await txn.execute(
                "DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key_id = ANY(?)",
                user_id,
                list(device_ids),
            )
            await txn.execute(
                "DELETE FROM e2e_signatures WHERE signer_user_id = ? AND signer_key_id = ANY(?)",
                user_id,
                [f"ed25519:{device_id}" for device_id in device_ids],
            )
        return had_keys > 0


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
