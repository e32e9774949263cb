"""Listing notifications (modules/push.md, data/api/client-server/notifications.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import invalid_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    counts = hs.notification_counts

    async def get_notifications(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        limit_text = request.query.get("limit")
        limit = None
        if limit_text is not None:
            try:
                limit = int(limit_text)
            except ValueError:
                raise invalid_param("limit must be an integer") from None
        result = await counts.list_notifications(
            requester, from_token=request.query.get("from"), limit=limit, only=request.query.get("only")
        )
        return json_response(result)

    return [web.get(V3 + "/notifications", get_notifications)]
