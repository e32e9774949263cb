"""Spaces and rooms held by other servers: GET /_matrix/federation/v1/hierarchy/{roomId}
(server-server space_hierarchy.yaml), for the client API's hierarchy walk.

The servers a child link names are tried in turn until one answers. Answers are kept a
short while, as the spec asks ("Responses to this endpoint should be cached").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from veche.services.federation.client import FederationClient, FederationError, federation_path
from veche.services.federation.remote_errors import QUERY_TIMEOUT_SECONDS
from veche.storage.cache import LruCache

logger = logging.getLogger(__name__)

HIERARCHY = "/_matrix/federation/v1/hierarchy/{}"
# Servers asked per room, so a link naming many cannot stall a client's request.
MAX_SERVERS_TRIED = 3
CACHE_SECONDS = 60.0
CACHE_SIZE = 1000


class FederatedHierarchy:
    def __init__(
        self, client: FederationClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._clock = clock
        self._cache: LruCache[tuple[str, bool], tuple[float, dict[str, Any]]] = LruCache(CACHE_SIZE)

    async def summaries(self, room_id: str, via: Sequence[str], suggested_only: bool) -> dict[str, Any] | None:
        cached = self._cache.get((room_id, suggested_only))
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        path = federation_path(HIERARCHY, room_id)
        query = {"suggested_only": "true" if suggested_only else "false"}
        for server in [s for s in dict.fromkeys(via) if s != self._client.server_name][:MAX_SERVERS_TRIED]:
            try:
                answer = await self._client.get_json(server, path, query, timeout=QUERY_TIMEOUT_SECONDS)
            except FederationError as e:
                logger.info("Hierarchy of %s not fetched: %s", room_id, e)
                continue
            if isinstance(answer, dict) and isinstance(answer.get("room"), dict):
                self._cache.set((room_id, suggested_only), (self._clock() + CACHE_SECONDS, answer))
                return answer
        return None
