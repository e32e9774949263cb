"""OpenID tokens (modules/openid.md): a user asks for one on the client API and gives it to
another service (a widget, an integration manager), which learns the user's ID by
presenting it at GET /_matrix/federation/v1/openid/userinfo."""

from __future__ import annotations

import time
from dataclasses import dataclass

from veche.storage.openid_tokens import OpenIdTokenStore

# One hour, as in the spec's example; long enough for the consumer to verify it promptly.
TOKEN_LIFETIME_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class OpenIdToken:
    access_token: str
    expires_in: int


class OpenIdTokens:
    def __init__(self, store: OpenIdTokenStore, lifetime_seconds: int = TOKEN_LIFETIME_SECONDS) -> None:
        self._store = store
        self._lifetime_seconds = lifetime_seconds

    async def issue(self, user_id: str) -> OpenIdToken:
        now_ms = _now_ms()
        # Issuing is rare, so it is a fine moment to forget the tokens nobody can use any more.
        await self._store.delete_expired(now_ms)
        token = await self._store.create(user_id, now_ms + self._lifetime_seconds * 1000)
        return OpenIdToken(token, self._lifetime_seconds)

    async def owner(self, token: str) -> str | None:
        """The user who was issued `token`, or None if it is unknown or expired."""
        return await self._store.lookup(token, _now_ms())


def _now_ms() -> int:
    return int(time.time() * 1000)
