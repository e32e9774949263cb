"""POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync: simplified sliding sync
(spec/msc/4186-simplified-sliding-sync.md, "Unstable prefix").

`pos`, `timeout` and `set_presence` are read from the query string, where the clients in
the field send them, or else from the body, where the MSC now puts them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import MatrixError, invalid_param
from veche.protocol.sliding_sync import SlidingSyncRequestError, parse_request

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

UNSTABLE_PATH = f"{CLIENT_PREFIX}/unstable/org.matrix.simplified_msc3575/sync"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def sliding_sync(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        body = await read_json_body(request)
        query = request.query
        timeout = query.get("timeout")
        if timeout is not None and not (timeout.isascii() and timeout.lstrip("-").isdigit()):
            raise invalid_param("timeout must be an integer")
        try:
            parsed = parse_request(body, pos=query.get("pos"), timeout_ms=None if timeout is None else int(timeout))
        except SlidingSyncRequestError as e:
            raise MatrixError(400, e.errcode, str(e)) from None
        set_presence = query.get("set_presence", body.get("set_presence", "online"))
        await hs.user_data.presence.set_presence_from_sync(requester.user_id, set_presence)
        return json_response(await hs.sliding_sync.sync(requester, parsed))

    return [web.post(UNSTABLE_PATH, sliding_sync)]
