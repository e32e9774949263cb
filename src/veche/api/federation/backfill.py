"""GET /_matrix/federation/v1/backfill/{roomId} (backfill.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.errors import invalid_param, missing_param
from veche.protocol.canonical_json import encode_canonical_json
from veche.services.federation.origin_limits import RequestKind

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def backfill(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        from_ids = request.query.getall("v", [])
        if not from_ids:
            raise missing_param("v is required")
        try:
            limit = int(request.query.get("limit", ""))
        except ValueError:
            raise invalid_param("limit must be an integer") from None
        pdus = await hs.federation_backfill.backfill(origin, request.match_info["roomId"], from_ids, limit)
        answer = {"origin": hs.server_name, "origin_server_ts": hs.sender.now_ms(), "pdus": pdus}
        # Events of room versions 1-5 may hold integers orjson cannot write.
        return web.Response(body=encode_canonical_json(answer, strict=False), content_type="application/json")

    return [web.get("/_matrix/federation/v1/backfill/{roomId}", backfill)]
