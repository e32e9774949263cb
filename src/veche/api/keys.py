"""Server key endpoints (server-server-api.md, "Retrieving server keys"):

- GET  /_matrix/key/v2/server              our signed keys (keys_server.yaml)
- GET  /_matrix/key/v2/query/{serverName}  another server's keys, signed by us as notary
- POST /_matrix/key/v2/query               the same for several servers (keys_query.yaml)

None of them needs request authentication: they are how a peer gets the keys to check it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.http import json_response, read_json_body
from veche.errors import bad_json, invalid_param
from veche.protocol.identifiers import is_valid_server_name
from veche.services.ratelimit import RateLimits

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

KEY_V2 = "/_matrix/key/v2"
# One query asks for at most this many servers, so a request cannot make us fetch the world.
MAX_SERVERS_PER_QUERY = 100


def routes(hs: HomeServer) -> list[web.RouteDef]:
    local_keys = hs.federation.local_keys
    keyring = hs.federation.keyring
    limiter = hs.ratelimiter

    def check_rate(request: web.Request) -> None:
        limiter.check(RateLimits.KEY_QUERY, request.remote or "")

    async def get_server_keys(request: web.Request) -> web.Response:
        return json_response(local_keys.key_response())

    async def query_one(request: web.Request) -> web.Response:
        check_rate(request)
        server_name = request.match_info["serverName"]
        minimum = _timestamp(request.query.get("minimum_valid_until_ts"))
        responses = []
        if is_valid_server_name(server_name):
            responses = await keyring.notary_responses(server_name, [], minimum)
        return json_response({"server_keys": responses})

    async def query_many(request: web.Request) -> web.Response:
        check_rate(request)
        body = await read_json_body(request)
        criteria = body.get("server_keys")
        if not isinstance(criteria, dict) or not all(isinstance(v, dict) for v in criteria.values()):
            raise bad_json("server_keys must map server names to key IDs")
        if len(criteria) > MAX_SERVERS_PER_QUERY:
            raise invalid_param(f"at most {MAX_SERVERS_PER_QUERY} servers per query")
        responses: list[dict[str, Any]] = []
        for server_name, key_criteria in criteria.items():
            if not is_valid_server_name(server_name):
                continue
            minimum = max(
                (_timestamp(_criterion(c)) for c in key_criteria.values()), default=_now_ms()
            )
            responses += await keyring.notary_responses(server_name, list(key_criteria), minimum)
        return json_response({"server_keys": responses})

    return [
        web.get(f"{KEY_V2}/server", get_server_keys),
        web.get(KEY_V2 + "/query/{serverName}", query_one),
        web.post(f"{KEY_V2}/query", query_many),
    ]


def _criterion(value: Any) -> Any:
    return value.get("minimum_valid_until_ts") if isinstance(value, dict) else None


def _timestamp(value: Any) -> int:
    """A minimum_valid_until_ts; absent or unreadable means now, as the spec says."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return _now_ms()


def _now_ms() -> int:
    return int(time.time() * 1000)
