"""The client API endpoints reserved to application services: POST /appservice/{id}/ping
(appservice_ping.yaml) and PUT /directory/list/appservice/{networkId}/{roomId}
(appservice_room_directory.yaml). Both need an application service's `as_token`; anyone
else gets 403 M_FORBIDDEN.

Veche keeps one room directory: a service's rooms are published to it whatever the
network ID (Synapse lists them per network only when a client asks for that network).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import MatrixError, forbidden, invalid_param, not_found
from veche.protocol.appservice import Registration
from veche.services.appservices.client import AppServiceError

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = f"{CLIENT_PREFIX}/v1"
V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def appservice_of(request: web.Request) -> Registration:
        requester = await hs.auth.require(request, allow_guest=True)
        if requester.appservice_id is None:
            raise forbidden("Only an application service's as_token may call this endpoint")
        return hs.appservices.by_id[requester.appservice_id]

    async def ping(request: web.Request) -> web.Response:
        reg = await appservice_of(request)
        if reg.id != request.match_info["appserviceId"]:
            raise forbidden("This as_token belongs to another application service")
        body = await read_json_body(request)
        transaction_id = body.get("transaction_id")
        if transaction_id is not None and not isinstance(transaction_id, str):
            raise invalid_param("transaction_id must be a string")
        if reg.url is None:
            raise MatrixError(400, "M_URL_NOT_SET", "The application service has no URL")
        started = time.monotonic()
        try:
            await hs.appservices.client.ping(reg, transaction_id)
        except AppServiceError as e:
            if e.timed_out:
                raise MatrixError(504, "M_CONNECTION_TIMEOUT", str(e)) from None
            if e.status is None:
                raise MatrixError(502, "M_CONNECTION_FAILED", str(e)) from None
            raise MatrixError(
                502, "M_BAD_STATUS", f"Ping returned status {e.status}", status=e.status, body=e.body or ""
            ) from None
        return json_response({"duration_ms": int((time.monotonic() - started) * 1000)})

    async def directory_list(request: web.Request) -> web.Response:
        await appservice_of(request)
        room_id = request.match_info["roomId"]
        body = await read_json_body(request)
        visibility = body.get("visibility")
        if visibility not in ("public", "private"):
            raise invalid_param("visibility must be public or private")
        if await hs.stores.rooms.get_room_version(room_id) is None:
            raise not_found(f"Unknown room {room_id}")
        if visibility == "public":
            await hs.directory.publish(room_id, int(time.time() * 1000))
        else:
            await hs.directory.unpublish(room_id)
        return json_response({})

    return [
        web.post(V1 + "/appservice/{appserviceId}/ping", ping),
        web.put(V3 + "/directory/list/appservice/{networkId}/{roomId}", directory_list),
    ]
