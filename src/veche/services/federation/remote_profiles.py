"""Profiles of users on other servers, through GET /_matrix/federation/v1/query/profile
(server-server query.yaml), kept for a short while as the spec suggests.

Failed look-ups are not cached, so a peer that was down is asked again next time. The
client API knows only 403 and 404 for profiles (profile.yaml), so a peer that cannot be
reached reads as "no profile information for this user".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from veche.errors import not_found
from veche.protocol.identifiers import parse_user_id
from veche.services.federation.client import FederationClient, FederationError
from veche.services.federation.remote_errors import QUERY_TIMEOUT_SECONDS, relay_failure
from veche.storage.cache import LruCache

logger = logging.getLogger(__name__)

PROFILE_QUERY = "/_matrix/federation/v1/query/profile"
CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000


class FederatedProfiles:
    def __init__(
        self, client: FederationClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._clock = clock
        self._cache: LruCache[str, tuple[float, dict[str, Any]]] = LruCache(CACHE_SIZE)

    async def lookup(self, user_id: str) -> dict[str, Any]:
        """The user's public profile from their server (its 404 or 403 relayed)."""
        cached = self._cache.get(user_id)
        if cached is not None and cached[0] > self._clock():
            return dict(cached[1])
        server = parse_user_id(user_id).server_name
        try:
            body = await self._client.get_json(
                server, PROFILE_QUERY, {"user_id": user_id}, timeout=QUERY_TIMEOUT_SECONDS
            )
        except FederationError as e:
            relayed = relay_failure(e)
            if relayed.status in (403, 404):
                raise relayed from None
            logger.info("Profile of %s not fetched: %s", user_id, e)
            raise not_found(f"No profile information for {user_id}") from None
        if not isinstance(body, dict):
            logger.info("Profile of %s from %s is not an object", user_id, server)
            raise not_found(f"No profile information for {user_id}")
        # query.yaml: a field the user has not set may come as null; the client API omits it.
        profile = {key: value for key, value in body.items() if value is not None}
        self._cache.set(user_id, (self._clock() + CACHE_SECONDS, profile))
        return dict(profile)
