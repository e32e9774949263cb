"""PUT /_matrix/federation/v1/send/{txnId}: a transaction of PDUs and EDUs (transactions.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.federation.auth import read_federation_body
from veche.api.http import json_response
from veche.services.federation.origin_limits import RequestKind

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

FEDERATION_V1 = "/_matrix/federation/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def send_transaction(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request, RequestKind.TRANSACTION)
        body = await read_federation_body(request)
        answer = await hs.federation_events.transactions.on_transaction(
            origin, request.match_info["txnId"], body
        )
        return json_response(answer)

    return [web.put(f"{FEDERATION_V1}/send/{{txnId}}", send_transaction)]
