"""Registration tokens as Synapse's admin API manages them: list, show, create (given or
generated), change the limits, delete. The tokens are those of `veche registration-token`
(the same store); Veche spends a use when the account is created, so none is ever pending.
"""

from __future__ import annotations

import time
from typing import Any

from veche.errors import invalid_param, not_found
from veche.protocol.registration_tokens import DEFAULT_TOKEN_LENGTH, MAX_TOKEN_LENGTH, generate_token, is_valid_token
from veche.storage.registration_tokens import UNCHANGED, RegistrationToken, RegistrationTokenStore


class RegistrationTokenAdmin:
    def __init__(self, store: RegistrationTokenStore) -> None:
        self._store = store

    async def list(self, valid: bool | None) -> list[dict[str, Any]]:
        now = _now_ms()
        tokens = await self._store.list()
        return [token_json(t) for t in tokens if valid is None or t.is_usable(now) == valid]

    async def get(self, token: str) -> dict[str, Any]:
        found = await self._store.get(token)
        if found is None:
            raise not_found(f"No such registration token: {token}")
        return token_json(found)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("token")
        if token is None:
            length = body.get("length", DEFAULT_TOKEN_LENGTH)
            if not _is_int(length) or not 1 <= length <= MAX_TOKEN_LENGTH:
                raise invalid_param(f"length must be an integer from 1 to {MAX_TOKEN_LENGTH}")
            token = generate_token(length)
        elif not isinstance(token, str) or not is_valid_token(token):
            raise invalid_param(f"token must be 1 to {MAX_TOKEN_LENGTH} characters of A-Z a-z 0-9 . _ ~ -")
        uses_allowed = _uses_allowed(body.get("uses_allowed"))
        expiry_ts = _expiry(body.get("expiry_time"))
        if not await self._store.create(token, uses_allowed, expiry_ts):
            raise invalid_param("Token already exists")
        return await self.get(token)

    async def update(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        uses_allowed = _uses_allowed(body["uses_allowed"]) if "uses_allowed" in body else UNCHANGED
        expiry_ts = _expiry(body["expiry_time"]) if "expiry_time" in body else UNCHANGED
        found = await self._store.update(token, uses_allowed=uses_allowed, expiry_ts=expiry_ts)
        if found is None:
            raise not_found(f"No such registration token: {token}")
        return token_json(found)

    async def delete(self, token: str) -> None:
        if not await self._store.delete(token):
            raise not_found(f"No such registration token: {token}")


def token_json(token: RegistrationToken) -> dict[str, Any]:
    return {
        "token": token.token,
        "uses_allowed": token.uses_allowed,
        "pending": 0,
        "completed": token.completed,
        "expiry_time": token.expiry_ts,
    }


def _uses_allowed(value: Any) -> int | None:
    if value is not None and (not _is_int(value) or value < 0):
        raise invalid_param("uses_allowed must be a non-negative integer or null")
    return value


def _expiry(value: Any) -> int | None:
    if value is None:
        return None
    if not _is_int(value):
        raise invalid_param("expiry_time must be an integer or null")
    if value < _now_ms():
        raise invalid_param("expiry_time must not be in the past")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _now_ms() -> int:
    return int(time.time() * 1000)
