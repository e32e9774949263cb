"""Accounts, devices, access tokens and refresh tokens (migrations 0002_accounts, 0003_auth).

Tokens are random strings handed to the client once; only their SHA-256 is stored. An
access-token lookup runs on every authenticated request, so it is one query on a unique
index, and its result is kept in an in-process LRU that every deletion of a token evicts.

Refresh tokens rotate: refreshing with token R1 revokes R1's access token at once and
issues R2 (and its access token), but R1 itself survives until R2 or its access token is
first used, so a client that never received the response can refresh again.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from veche.storage.database import Database, Row, Transaction

ACCESS_TOKEN_PREFIX = "vat_"
REFRESH_TOKEN_PREFIX = "vrt_"
TOKEN_CACHE_SIZE = 10_000


class UserIdTaken(Exception):
    """The user ID belongs to an account, possibly a deactivated one."""


class RegistrationTokenUnusable(Exception):
    """The registration token is unknown, expired or used up."""


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
    # Set when an application service's as_token made the request (token_id is then 0).
    appservice_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshTokenInfo:
    token_id: int
    user_id: str
    device_id: str
    expires_ts: int | None
    # The token this one replaced, still valid until this one is first used.
    prev_token_id: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None


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
        registration_token: str | None = None,
    ) -> None:
        """Raises UserIdTaken if any account, even a deactivated one, has this ID.

        With `registration_token`, one use of that token is spent in the same transaction,
        or RegistrationTokenUnusable is raised and no account is created.
        """
        now = _now_ms()
        async with self._db.transaction() as txn:
            if registration_token is not None:
                spent = await txn.execute(
                    "UPDATE registration_tokens SET completed = completed + 1"
                    " WHERE token = ? AND (uses_allowed IS NULL OR completed < uses_allowed)"
                    " AND (expiry_ts IS NULL OR expiry_ts > ?)",
                    registration_token,
                    now,
                )
                if not spent:
                    raise RegistrationTokenUnusable(registration_token)
            changed = await txn.execute(
                "INSERT INTO users (user_id, password_hash, is_admin, is_guest, created_ts)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
                user_id,
                password_hash,
                is_admin,
                is_guest,
                now,
            )
            if not changed:
                # Raising rolls back the token use as well.
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

    async def deactivate_account(self, user_id: str) -> list[str]:
        """Marks the account deactivated and deletes all its devices; returns their IDs."""
        await self._db.execute("UPDATE users SET deactivated = TRUE WHERE user_id = ?", user_id)
        return await self.delete_all_devices(user_id)

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

    async def set_device_display_name(
        self, user_id: str, device_id: str, display_name: str | None
    ) -> bool:
        """Renames the device; False if the user has no such device."""
        changed = await self._db.execute(
            "UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?",
            display_name,
            user_id,
            device_id,
        )
        return bool(changed)

    async def record_device_seen(self, user_id: str, device_id: str, ip: str | None) -> None:
        await self._db.execute(
            "UPDATE devices SET last_seen_ts = ?, last_seen_ip = ?"
            " WHERE user_id = ? AND device_id = ?",
            _now_ms(),
            ip,
            user_id,
            device_id,
        )

    async def delete_device(self, user_id: str, device_id: str) -> None:
        await self.delete_devices(user_id, [device_id])

    async def delete_all_devices(
        self, user_id: str, *, except_device_id: str | None = None
    ) -> list[str]:
        """Deletes every device of the user (but `except_device_id`); returns their IDs."""
        rows = await self._db.fetchall("SELECT device_id FROM devices WHERE user_id = ?", user_id)
        device_ids = [row[0] for row in rows if row[0] != except_device_id]
        if device_ids:
            await self.delete_devices(user_id, device_ids)
        return device_ids

    async def delete_device_tokens(self, user_id: str, device_id: str) -> None:
        """Revokes every access and refresh token of the device, keeping the device."""
        async with self._db.transaction() as txn:
            rows = await txn.fetchall(
                "DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?"
                " RETURNING token_hash",
                user_id,
                device_id,
            )
            await txn.execute(
                "DELETE FROM refresh_tokens WHERE user_id = ? AND device_id = ?",
                user_id,
                device_id,
            )
        self._evict(row[0] for row in rows)

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
        async with self._db.transaction() as txn:
            return await _insert_access_token(txn, user_id, device_id, expires_ts, None)

    async def issue_tokens(
        self,
        user_id: str,
        device_id: str,
        *,
        access_expires_ts: int | None,
        with_refresh_token: bool,
    ) -> IssuedTokens:
        """An access token, and if asked a refresh token bound to it, for an existing device."""
        async with self._db.transaction() as txn:
            refresh_token, refresh_id = (None, None)
            if with_refresh_token:
                refresh_token, refresh_id = await _insert_refresh_token(
                    txn, user_id, device_id, None, None
                )
            access_token = await _insert_access_token(
                txn, user_id, device_id, access_expires_ts, refresh_id
            )
        return IssuedTokens(access_token, refresh_token)

    async def rotate_refresh_token(
        self, used: RefreshTokenInfo, access_expires_ts: int | None
    ) -> IssuedTokens:
        """Spends `used`: revokes the access token issued with it and issues a new pair.

        `used` itself stays valid until the new pair is first used.
        """
        async with self._db.transaction() as txn:
            revoked = await txn.fetchall(
                "DELETE FROM access_tokens WHERE refresh_token_id = ? RETURNING token_hash",
                used.token_id,
            )
            if used.prev_token_id is not None:
                revoked += await _revoke_superseded(txn, used.token_id, used.prev_token_id)
            refresh_token, refresh_id = await _insert_refresh_token(
                txn, used.user_id, used.device_id, used.expires_ts, used.token_id
            )
            access_token = await _insert_access_token(
                txn, used.user_id, used.device_id, access_expires_ts, refresh_id
            )
        self._evict(row[0] for row in revoked)
        return IssuedTokens(access_token, refresh_token)

    async def lookup_access_token(self, token: str) -> TokenInfo | None:
        """Who `token` authenticates, or None. Expiry is the caller's to judge."""
        token_hash = hash_token(token)
        cached = self._token_cache.get(token_hash)
        if cached is not None:
            self._token_cache.move_to_end(token_hash)
            return cached
        evictions = self._evictions
        row = await self._db.fetchone(
            "SELECT t.token_id, t.user_id, t.device_id, u.is_guest, t.expires_ts,"
            " r.token_id, r.prev_token_id"
            " FROM access_tokens t JOIN users u ON u.user_id = t.user_id"
            " LEFT JOIN refresh_tokens r ON r.token_id = t.refresh_token_id"
            " WHERE t.token_hash = ?",
            token_hash,
        )
        if row is None:
            return None
        if row[6] is not None:
            # First use of a refreshed access token: the refresh token it replaced dies now.
            # Not cached this time: the eviction count has moved, so the next lookup does it.
            await self._spend_predecessor(row[5], row[6])
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
        async with self._db.transaction() as txn:
            token, _ = await _insert_refresh_token(txn, user_id, device_id, expires_ts, None)
        return token

    async def lookup_refresh_token(self, token: str) -> RefreshTokenInfo | None:
        row = await self._db.fetchone(
            "SELECT token_id, user_id, device_id, expires_ts, prev_token_id FROM refresh_tokens"
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

    async def _spend_predecessor(self, token_id: int, prev_token_id: int) -> None:
        async with self._db.transaction() as txn:
            revoked = await _revoke_superseded(txn, token_id, prev_token_id)
        self._evict(row[0] for row in revoked)

    def _evict(self, token_hashes: Iterable[bytes]) -> None:
        self._evictions += 1
        for token_hash in token_hashes:
            self._token_cache.pop(bytes(token_hash), None)


async def _insert_access_token(
    txn: Transaction,
    user_id: str,
    device_id: str,
    expires_ts: int | None,
    refresh_token_id: int | None,
) -> str:
    token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
    await txn.execute(
        "INSERT INTO access_tokens"
        " (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        hash_token(token),
        user_id,
        device_id,
        _now_ms(),
        expires_ts,
        refresh_token_id,
    )
    return token


async def _insert_refresh_token(
    txn: Transaction,
    user_id: str,
    device_id: str,
    expires_ts: int | None,
    prev_token_id: int | None,
) -> tuple[str, int]:
    token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = await txn.fetchval(
        "INSERT INTO refresh_tokens"
        " (token_hash, user_id, device_id, created_ts, expires_ts, prev_token_id)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING token_id",
        hash_token(token),
        user_id,
        device_id,
        _now_ms(),
        expires_ts,
        prev_token_id,
    )
    return token, token_id


async def _revoke_superseded(txn: Transaction, used_id: int, prev_id: int) -> list[Row]:
    """`used_id` has been used: revoke the token it replaced and that token's other
    replacements (left by repeated refreshes), with their access tokens.

    Returns the hashes of the revoked access tokens, for the cache.
    """
    dead = await txn.fetchall(
        "DELETE FROM refresh_tokens"
        " WHERE token_id = ? OR (prev_token_id = ? AND token_id <> ?) RETURNING token_id",
        prev_id,
        prev_id,
        used_id,
    )
    await txn.execute(
        "UPDATE refresh_tokens SET prev_token_id = NULL WHERE token_id = ?", used_id
    )
    if not dead:
        return []
    return await txn.fetchall(
        "DELETE FROM access_tokens WHERE refresh_token_id = ANY(?) RETURNING token_hash",
        [row[0] for row in dead],
    )
