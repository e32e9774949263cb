"""Accounts, devices, access tokens and refresh tokens (tables in migrations/0002_accounts.sql).

Tokens are random strings handed to the client once; only their SHA-256 is stored. An
access-token lookup runs on every authenticated request, so it is one query on a unique
index, and its result is kept in an in-process LRU that every deletion of a token evicts.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from veche.storage.database import Database

ACCESS_TOKEN_PREFIX = "vat_"
REFRESH_TOKEN_PREFIX = "vrt_"
TOKEN_CACHE_SIZE = 10_000


class UserIdTaken(Exception):
    """The user ID belongs to an account, possibly a deactivated one."""


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    password_hash: str | None
    is_admin: bool
    is_guest: bool
    deactivated: bool
    created_ts: int


@dataclass(frozen=True, slots=True)
class Device:
    user_id: str
    device_id: str
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """Who an access token authenticates; `token_id` identifies it for logout."""

    token_id: int
    user_id: str
    device_id: str
    is_guest: bool
    expires_ts: int | None


@dataclass(frozen=True, slots=True)
class RefreshTokenInfo:
    token_id: int
    user_id: str
    device_id: str
    expires_ts: int | None


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _now_ms() -> int:
    return int(time.time() * 1000)


class AccountStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._token_cache: OrderedDict[bytes, TokenInfo] = OrderedDict()
        # Bumped by every eviction, so a lookup that raced a logout does not cache a
        # token the logout has just deleted.
        self._evictions = 0

    # Accounts

    async def create_account(
        self,
        user_id: str,
        password_hash: str | None,
        *,
        is_admin: bool = False,
        is_guest: bool = False,
    ) -> None:
        """Raises UserIdTaken if any account, even a deactivated one, has this ID."""
        changed = await self._db.execute(
            "INSERT INTO users (user_id, password_hash, is_admin, is_guest, created_ts)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
            user_id,
            password_hash,
            is_admin,
            is_guest,
            _now_ms(),
        )
        if not changed:
            raise UserIdTaken(user_id)

    async def get_account(self, user_id: str) -> Account | None:
        row = await self._db.fetchone(
            "SELECT user_id, password_hash, is_admin, is_guest, deactivated, created_ts"
            " FROM users WHERE user_id = ?",
            user_id,
        )
        if row is None:
            return None
        return Account(row[0], row[1], bool(row[2]), bool(row[3]), bool(row[4]), row[5])

    async def user_id_exists(self, user_id: str) -> bool:
        return await self._db.fetchval("SELECT 1 FROM users WHERE user_id = ?", user_id) is not None

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        await self._db.execute(
            "UPDATE users SET password_hash = ? WHERE user_id = ?", password_hash, user_id
        )

    # Devices

    async def create_device(
        self, user_id: str, device_id: str, display_name: str | None = None
    ) -> bool:
        """Adds the device; returns False (changing nothing) if it already exists."""
        changed = await self._db.execute(
            "INSERT INTO devices (user_id, device_id, display_name) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, device_id) DO NOTHING",
            user_id,
            device_id,
            display_name,
        )
        return bool(changed)

    async def get_device(self, user_id: str, device_id: str) -> Device | None:
        row = await self._db.fetchone(
            "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip"
            " FROM devices WHERE user_id = ? AND device_id = ?",
            user_id,
            device_id,
        )
        return Device(*row) if row else None

    async def list_devices(self, user_id: str) -> list[Device]:
        rows = await self._db.fetchall(
            "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip"
            " FROM devices WHERE user_id = ? ORDER BY device_id",
            user_id,
        )
        return [Device(*row) for row in rows]

    async def delete_device(self, user_id: str, device_id: str) -> None:
        await self.delete_devices(user_id, [device_id])

    async def delete_devices(self, user_id: str, device_ids: Iterable[str]) -> None:
        """Deletes the devices and every access and refresh token issued to them."""
        device_ids = list(device_ids)
        async with self._db.transaction() as txn:
            rows = await txn.fetchall(
                "DELETE FROM access_tokens WHERE user_id = ? AND device_id = ANY(?)"
                " RETURNING token_hash",
                user_id,
                device_ids,
            )
            await txn.execute(
                "DELETE FROM refresh_tokens WHERE user_id = ? AND device_id = ANY(?)",
                user_id,
                device_ids,
            )
            await txn.execute(
                "DELETE FROM devices WHERE user_id = ? AND device_id = ANY(?)",
                user_id,
                device_ids,
            )
        self._evict(row[0] for row in rows)

    # Access tokens

    async def create_access_token(
        self, user_id: str, device_id: str, expires_ts: int | None = None
    ) -> str:
        """A new token for an existing device; only its hash is kept."""
        token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self._db.execute(
            "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts)"
            " VALUES (?, ?, ?, ?, ?)",
            hash_token(token),
            user_id,
            device_id,
            _now_ms(),
            expires_ts,
        )
        return token

    async def lookup_access_token(self, token: str) -> TokenInfo | None:
        """Who `token` authenticates, or None. Expiry is the caller's to judge."""
        token_hash = hash_token(token)
        cached = self._token_cache.get(token_hash)
        if cached is not None:
            self._token_cache.move_to_end(token_hash)
            return cached
        evictions = self._evictions
        row = await self._db.fetchone(
            "SELECT t.token_id, t.user_id, t.device_id, u.is_guest, t.expires_ts"
            " FROM access_tokens t JOIN users u ON u.user_id = t.user_id"
            " WHERE t.token_hash = ?",
            token_hash,
        )
        if row is None:
            return None
        info = TokenInfo(row[0], row[1], row[2], bool(row[3]), row[4])
        if evictions == self._evictions:
            self._token_cache[token_hash] = info
            if len(self._token_cache) > TOKEN_CACHE_SIZE:
                self._token_cache.popitem(last=False)
        return info

    async def delete_access_token(self, token_id: int) -> None:
        await self._delete_access_tokens("token_id = ?", token_id)

    async def delete_access_tokens_for_user(
        self, user_id: str, *, except_token_id: int | None = None
    ) -> None:
        """Logs out every session of the user (but `except_token_id`, if given)."""
        if except_token_id is None:
            await self._delete_access_tokens("user_id = ?", user_id)
        else:
            await self._delete_access_tokens("user_id = ? AND token_id <> ?", user_id, except_token_id)

    # Refresh tokens

    async def create_refresh_token(
        self, user_id: str, device_id: str, expires_ts: int | None = None
    ) -> str:
        token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self._db.execute(
            "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts)"
            " VALUES (?, ?, ?, ?, ?)",
            hash_token(token),
            user_id,
            device_id,
            _now_ms(),
            expires_ts,
        )
        return token

    async def lookup_refresh_token(self, token: str) -> RefreshTokenInfo | None:
        row = await self._db.fetchone(
            "SELECT token_id, user_id, device_id, expires_ts FROM refresh_tokens"
            " WHERE token_hash = ?",
            hash_token(token),
        )
        return RefreshTokenInfo(*row) if row else None

    async def delete_refresh_token(self, token_id: int) -> None:
        await self._db.execute("DELETE FROM refresh_tokens WHERE token_id = ?", token_id)

    async def _delete_access_tokens(self, where: str, *args: object) -> None:
        # DELETE … RETURNING writes, so it runs in a write transaction, not as a read.
        async with self._db.transaction() as txn:
            rows = await txn.fetchall(
                f"DELETE FROM access_tokens WHERE {where} RETURNING token_hash", *args
            )
        self._evict(row[0] for row in rows)

    def _evict(self, token_hashes: Iterable[bytes]) -> None:
        self._evictions += 1
        for token_hash in token_hashes:
            self._token_cache.pop(bytes(token_hash), None)
