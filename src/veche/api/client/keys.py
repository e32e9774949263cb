"""End-to-end keys (keys.yaml, cross_signing.yaml): upload, query, claim, changes, and
cross-signing keys and signatures. Guests may upload, query and claim keys
(modules/guest_access.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import invalid_param, missing_param
from veche.services.streams import InvalidToken, StreamToken

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    e2ee = hs.e2ee

    async def upload(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        body = await read_json_body(request)
        counts = await e2ee.keys.upload(requester.user_id, requester.device_id, body)
        return json_response({"one_time_key_counts": counts})

    async def query(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        body = await read_json_body(request)
        return json_response(await e2ee.keys.query(requester.user_id, body))

    async def claim(request: web.Request) -> web.Response:
        await hs.auth.require(request, allow_guest=True)
        body = await read_json_body(request)
        return json_response(await e2ee.keys.claim(body))

    async def changes(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        since = _token(request, "from")
        to = _token(request, "to")
        changed, left = await e2ee.device_lists.changes(requester.user_id, since, to)
        return json_response({"changed": changed, "left": left})

    async def device_signing_upload(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        await e2ee.cross_signing.upload_keys(requester, body)
        return json_response({})

    async def signatures_upload(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        return json_response(await e2ee.cross_signing.upload_signatures(requester, body))

    return [
        web.post(f"{V3}/keys/upload", upload),
        web.post(f"{V3}/keys/query", query),
        web.post(f"{V3}/keys/claim", claim),
        web.get(f"{V3}/keys/changes", changes),
        web.post(f"{V3}/keys/device_signing/upload", device_signing_upload),
        web.post(f"{V3}/keys/signatures/upload", signatures_upload),
    ]


def _token(request: web.Request, name: str) -> StreamToken:
    value = request.query.get(name)
    if value is None:
        raise missing_param(f"Missing {name} token")
    try:
        return StreamToken.parse(value)
    except InvalidToken:
        raise invalid_param(f"Invalid {name} token {value!r}") from None
