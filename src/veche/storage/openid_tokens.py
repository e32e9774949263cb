"""OpenID tokens a user hands to another service as proof of identity
(modules/openid.md; migrations/0120_openid_tokens.sql)."""

from __future__ import annotations

import secrets

from veche.storage.accounts import hash_token
from veche.storage.database import Database


class OpenIdTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user_id: str, expires_ts: int) -> str:
        """A new random token for `user_id`, valid until `expires_ts` (ms since the epoch)."""
        token = secrets.token_urlsafe(32)
        await self._db.execute(
            "INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES (?, ?, ?)",
            hash_token(token),
            user_id,
            expires_ts,
        )
        return token

    async def lookup(self, token: str, now_ms: int) -> str | None:
        """The user whose token this is, or None if it is unknown or has expired."""
        row = await self._db.fetchone(
            "SELECT user_id FROM openid_tokens WHERE token_hash = ? AND expires_ts > ?",
            hash_token(token),
            now_ms,
        )
        return row[0] if row is not None else None

    async def delete_expired(self, now_ms: int) -> None:
        await self._db.execute("DELETE FROM openid_tokens WHERE expires_ts <= ?", now_ms)
