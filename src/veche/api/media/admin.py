"""DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}: Synapse's admin API to delete one
media item, so existing admin tools work against Veche."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response
from veche.errors import forbidden, not_found

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

ADMIN_PREFIX = "/_synapse/admin/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def delete_media(request: web.Request) -> web.Response:
        token = await hs.auth.require(request)
        account = await hs.accounts.get_account(token.user_id)
        if account is None or not account.is_admin:
            raise forbidden("You are not a server admin")
        media_id = request.match_info["media_id"]
        if not await hs.media.repository.delete(request.match_info["server_name"], media_id):
            raise not_found("Unknown media")
        return json_response({"deleted_media": [media_id], "total": 1})

    return [web.delete(f"{ADMIN_PREFIX}/media/{{server_name}}/{{media_id}}", delete_media)]
