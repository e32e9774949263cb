"""Pre-shared registration tokens (table in migrations/0003_auth.sql).

A use is spent by `AccountStore.create_account(registration_token=…)`, in the transaction
that creates the account, so a token limited to N uses creates at most N accounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class RegistrationToken:
    token: str
    uses_allowed: int | None
    completed: int
    expiry_ts: int | None
    created_ts: int

    def is_usable(self, now_ms: int) -> bool:
        if self.expiry_ts is not None and self.expiry_ts <= now_ms:
            return False
        return self.uses_allowed is None or self.completed < self.uses_allowed


class _Unchanged:
    """The value `update` leaves as it is (None means "no limit")."""


UNCHANGED = _Unchanged()

_COLUMNS = "token, uses_allowed, completed, expiry_ts, created_ts"


class RegistrationTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, token: str, uses_allowed: int | None, expiry_ts: int | None) -> bool:
        """Adds the token; False (changing nothing) if it already exists."""
        changed = await self._db.execute(
            "INSERT INTO registration_tokens (token, uses_allowed, expiry_ts, created_ts)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (token) DO NOTHING",
            token,
            uses_allowed,
            expiry_ts,
            int(time.time() * 1000),
        )
        return bool(changed)

    async def get(self, token: str) -> RegistrationToken | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM registration_tokens WHERE token = ?", token
        )
        return RegistrationToken(*row) if row else None

    async def list(self) -> list[RegistrationToken]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM registration_tokens ORDER BY created_ts, token"
        )
        return [RegistrationToken(*row) for row in rows]

    async def update(
        self,
        token: str,
        *,
        uses_allowed: int | None | _Unchanged = UNCHANGED,
        expiry_ts: int | None | _Unchanged = UNCHANGED,
    ) -> RegistrationToken | None:
        """Changes the limits given; the token as it is then, or None if there is no such token."""
        changes = {"uses_allowed": uses_allowed, "expiry_ts": expiry_ts}
        sets = {column: value for column, value in changes.items() if not isinstance(value, _Unchanged)}
        if sets:
            assignments = ", ".join(f"{column} = ?" for column in sets)
            await self._db.execute(
                f"UPDATE registration_tokens SET {assignments} WHERE token = ?", *sets.values(), token
            )
        return await self.get(token)

    async def delete(self, token: str) -> bool:
        return bool(await self._db.execute("DELETE FROM registration_tokens WHERE token = ?", token))
