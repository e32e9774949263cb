"""POST /_matrix/federation/v1/user/keys/query and /user/keys/claim (server-server
user_keys.yaml): this server's users' device keys and one-time keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.federation.auth import read_federation_body
from veche.api.http import json_response
from veche.errors import bad_json
from veche.services.federation.origin_limits import RequestKind

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = "/_matrix/federation/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    keys = hs.e2ee.keys

    async def query(request: web.Request) -> web.Response:
        await hs.server_auth.require(request)
        wanted = _field(await read_federation_body(request), "device_keys")
        if not all(
            isinstance(devices, list) and all(isinstance(d, str) for d in devices)
            for devices in wanted.values()
        ):
            raise bad_json("device_keys must map user IDs to lists of device IDs")
        return json_response(await keys.query_for_server(wanted))

    async def claim(request: web.Request) -> web.Response:
        await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        wanted = _field(await read_federation_body(request), "one_time_keys")
        if not all(
            isinstance(devices, dict) and all(isinstance(a, str) for a in devices.values())
            for devices in wanted.values()
        ):
            raise bad_json("one_time_keys must map user IDs to device IDs to algorithms")
        return json_response({"one_time_keys": await keys.claim_local(wanted)})

    return [web.post(f"{V1}/user/keys/query", query), web.post(f"{V1}/user/keys/claim", claim)]


def _field(body: dict[str, Any] | None, name: str) -> dict[str, Any]:
    value = (body or {}).get(name)
    if not isinstance(value, dict):
        raise bad_json(f"{name} must be an object")
    return value
