"""What the admin API reads and changes about accounts beyond `AccountStore`: the listing of
every account with its profile and last use, the admin flag, and reactivation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import LIKE_ESCAPE, Database, contains_pattern


@dataclass(frozen=True, slots=True)
class AccountSummary:
    user_id: str
    is_admin: bool
    is_guest: bool
    deactivated: bool
    created_ts: int
    profile: dict[str, Any]
    # The latest use of any of the account's devices; None if never seen.
    last_seen_ts: int | None


class AccountAdminStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_accounts(
        self, *, user_id_contains: str | None, guests: bool, deactivated: bool
    ) -> list[AccountSummary]:
        """Every account passing the filters, unordered. `user_id_contains` matches without
        regard to case, as Synapse's does."""
        where = ["TRUE"]
        args: list[Any] = []
        if not guests:
            where.append("NOT u.is_guest")
        if not deactivated:
            where.append("NOT u.deactivated")
        if user_id_contains:
            where.append(f"LOWER(u.user_id) LIKE ? ESCAPE '{LIKE_ESCAPE}'")
            args.append(contains_pattern(user_id_contains.lower()))
        rows = await self._db.fetchall(
            "SELECT u.user_id, u.is_admin, u.is_guest, u.deactivated, u.created_ts, p.fields,"
            " (SELECT MAX(d.last_seen_ts) FROM devices d WHERE d.user_id = u.user_id)"
            " FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id"
            f" WHERE {' AND '.join(where)}",
            *args,
        )
        return [
            AccountSummary(
                row[0],
                bool(row[1]),
                bool(row[2]),
                bool(row[3]),
                row[4],
                orjson.loads(row[5]) if row[5] is not None else {},
                row[6],
            )
            for row in rows
        ]

    async def set_admin(self, user_id: str, is_admin: bool) -> None:
        await self._db.execute("UPDATE users SET is_admin = ? WHERE user_id = ?", is_admin, user_id)

    async def reactivate(self, user_id: str) -> None:
        await self._db.execute("UPDATE users SET deactivated = FALSE WHERE user_id = ?", user_id)


