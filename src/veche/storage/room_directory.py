"""Room aliases of this server, the public room directory, and client transaction IDs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from veche.storage.database import Database, IntegrityError
from veche.storage.events import Statements

TransactionKey = tuple[str, str, str]
"""(user ID, device ID, client transaction ID)."""


class AliasStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, room_alias: str, room_id: str, creator: str) -> bool:
        """Map an alias to a room; False if the alias is taken."""
        try:
            await self._db.execute(
                "INSERT INTO room_aliases (room_alias, room_id, creator) VALUES (?, ?, ?)",
                room_alias,
                room_id,
                creator,
            )
        except IntegrityError:
            return False
        return True

    async def resolve(self, room_alias: str) -> str | None:
        return await self._db.fetchval("SELECT room_id FROM room_aliases WHERE room_alias = ?", room_alias)

    async def get(self, room_alias: str) -> tuple[str, str] | None:
        """(room_id, creator) of an alias."""
        row = await self._db.fetchone("SELECT room_id, creator FROM room_aliases WHERE room_alias = ?", room_alias)
        return (row[0], row[1]) if row else None

    async def delete(self, room_alias: str) -> bool:
        return await self._db.execute("DELETE FROM room_aliases WHERE room_alias = ?", room_alias) > 0

    async def aliases_of_room(self, room_id: str) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT room_alias FROM room_aliases WHERE room_id = ? ORDER BY room_alias", room_id
        )
        return [row[0] for row in rows]

    async def move_room_aliases(self, old_room_id: str, new_room_id: str) -> list[str]:
        """Point every alias of `old_room_id` at `new_room_id` (a room upgrade); returns them."""
        async with self._db.transaction() as txn:
            rows = await txn.fetchall(
                "SELECT room_alias FROM room_aliases WHERE room_id = ? ORDER BY room_alias", old_room_id
            )
            await txn.execute("UPDATE room_aliases SET room_id = ? WHERE room_id = ?", new_room_id, old_room_id)
        return [row[0] for row in rows]


class DirectoryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def publish(self, room_id: str, now_ms: int) -> None:
        await self._db.execute(
            "INSERT INTO room_directory (room_id, published_ts) VALUES (?, ?) ON CONFLICT (room_id) DO NOTHING",
            room_id,
            now_ms,
        )

    async def unpublish(self, room_id: str) -> None:
        await self._db.execute("DELETE FROM room_directory WHERE room_id = ?", room_id)

    async def is_published(self, room_id: str) -> bool:
        return await self._db.fetchval("SELECT 1 FROM room_directory WHERE room_id = ?", room_id) is not None

    async def published_rooms(self) -> list[str]:
        rows = await self._db.fetchall("SELECT room_id FROM room_directory ORDER BY published_ts, room_id")
        return [row[0] for row in rows]

    async def published_room_state(self, event_types: Iterable[str]) -> dict[str, dict[str, str]]:
        """room_id → {event type: event ID} of the `event_types` (state key "") that every
        published room currently has, in one query however many rooms are published."""
        rows = await self._db.fetchall(
            "SELECT d.room_id, k.event_type, i.event_id FROM room_directory d"
            " JOIN rooms r ON r.room_id = d.room_id"
            " JOIN current_state c ON c.room_nid = r.room_nid"
            " JOIN state_keys k ON k.state_key_nid = c.state_key_nid"
            " JOIN event_ids i ON i.event_nid = c.event_nid"
            " WHERE k.state_key = '' AND k.event_type = ANY(?)",
            list(event_types),
        )
        state: dict[str, dict[str, str]] = {}
        for room_id, event_type, event_id in rows:
            state.setdefault(room_id, {})[event_type] = event_id
        return state

    async def published_joined_counts(self) -> dict[str, int]:
        """room_id → number of joined members, for every published room this server knows."""
        rows = await self._db.fetchall(
            "SELECT d.room_id, COUNT(m.user_nid) FROM room_directory d"
            " JOIN rooms r ON r.room_id = d.room_id"
            " LEFT JOIN room_memberships m ON m.room_nid = r.room_nid AND m.membership = 'join'"
            " GROUP BY d.room_id"
        )
        return {room_id: int(count) for room_id, count in rows}


class ClientTransactionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_event_ids(self, keys: Sequence[TransactionKey]) -> dict[TransactionKey, str]:
        """The event each of these (user ID, device ID, transaction ID) was used for, if it was."""
        if not keys:
            return {}
        # Padded to a power of two by repeating the last key, so that a connection's cache
        # of prepared statements (PostgreSQL) holds a few texts of this one, not one per count.
        padded = [*keys, *[keys[-1]] * ((1 << (len(keys) - 1).bit_length()) - len(keys))]
        rows = await self._db.fetchall(
            "SELECT c.user_id, c.device_id, c.txn_id, c.event_id FROM (VALUES "
            + ", ".join(["(?, ?, ?)"] * len(padded))
            + ") AS k JOIN client_transactions c"
            " ON c.user_id = k.column1 AND c.device_id = k.column2 AND c.txn_id = k.column3",
            *(part for key in padded for part in key),
        )
        return {(user_id, device_id, txn_id): event_id for user_id, device_id, txn_id, event_id in rows}

    @staticmethod
    def record_statements(user_id: str, device_id: str, txn_id: str, event_id: str, now_ms: int) -> Statements:
        """The write that records a transaction ID, to commit with its event."""
        return [(
            "INSERT INTO client_transactions (user_id, device_id, txn_id, event_id, created_ts)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (user_id, device_id, txn_id, event_id, now_ms),
        )]

    async def transaction_ids(self, event_ids: Iterable[str], user_id: str, device_id: str) -> dict[str, str]:
        """event_id → txn_id for the events among `event_ids` that this device sent."""
        rows = await self._db.fetchall(
            "SELECT event_id, txn_id FROM client_transactions"
            " WHERE event_id = ANY(?) AND user_id = ? AND device_id = ?",
            list(event_ids),
            user_id,
            device_id,
        )
        return {row[0]: row[1] for row in rows}
