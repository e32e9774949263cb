"""Synapse's media admin API (docs/admin_api/media_admin_api.md in Synapse): delete an
item, list what a room's events refer to, quarantine items or a room's media, list and
delete a user's uploads, and how much each user uploaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.admin.requests import ADMIN_V1, choice_param, int_param, page_json, require_admin, room_id_param
from veche.api.http import json_response
from veche.services.admin.media import USAGE_ORDER, UsageQuery
from veche.storage.admin_media import USER_MEDIA_ORDER

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    media = hs.admin.media
    rooms = hs.admin.rooms
    users = hs.admin.users

    async def delete_media(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        media_id = request.match_info["media_id"]
        await media.delete(request.match_info["server_name"], media_id)
        return json_response({"deleted_media": [media_id], "total": 1})

    async def room_media(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        room_id = room_id_param(request)
        await rooms.require_room(room_id)
        return json_response(await media.room_media(room_id))

    async def quarantine_room(request: web.Request) -> web.Response:
        requester = await require_admin(hs, request)
        room_id = room_id_param(request)
        await rooms.require_room(room_id)
        return json_response({"num_quarantined": await media.quarantine_room(requester.user_id, room_id)})

    async def quarantine(request: web.Request) -> web.Response:
        requester = await require_admin(hs, request)
        await media.quarantine(requester.user_id, request.match_info["server_name"], request.match_info["media_id"])
        return json_response({})

    async def unquarantine(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        await media.quarantine(None, request.match_info["server_name"], request.match_info["media_id"])
        return json_response({})

    async def user_media(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        await users.require_account(user_id)
        start = int_param(request, "from", 0)
        page, total = await media.user_media(
            user_id,
            start=start,
            limit=int_param(request, "limit", 100),
            order_by=choice_param(request, "order_by", frozenset(USER_MEDIA_ORDER), "created_ts"),
            reverse=choice_param(request, "dir", ("f", "b"), "f") == "b",
        )
        return json_response(page_json("media", page, total, start))

    async def delete_user_media(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        await users.require_account(user_id)
        deleted = await media.delete_user_media(user_id)
        return json_response({"deleted_media": deleted, "total": len(deleted)})

    async def usage(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        until_ts = int_param(request, "until_ts", 0) if "until_ts" in request.query else None
        query = UsageQuery(
            start=int_param(request, "from", 0),
            limit=int_param(request, "limit", 100),
            order_by=choice_param(request, "order_by", USAGE_ORDER, "user_id"),
            reverse=choice_param(request, "dir", ("f", "b"), "f") == "b",
            from_ts=int_param(request, "from_ts", 0),
            until_ts=until_ts,
            search_term=request.query.get("search_term"),
        )
        page, total = await media.usage(query)
        return json_response(page_json("users", page, total, query.start))

    item = "{server_name}/{media_id}"
    return [
        web.delete(f"{ADMIN_V1}/media/{item}", delete_media),
        web.post(f"{ADMIN_V1}/media/quarantine/{item}", quarantine),
        web.post(f"{ADMIN_V1}/media/unquarantine/{item}", unquarantine),
        web.get(f"{ADMIN_V1}/room/{{roomId}}/media", room_media),
        web.post(f"{ADMIN_V1}/room/{{roomId}}/media/quarantine", quarantine_room),
        web.post(f"{ADMIN_V1}/quarantine_media/{{roomId}}", quarantine_room),
        web.get(f"{ADMIN_V1}/users/{{userId}}/media", user_media),
        web.delete(f"{ADMIN_V1}/users/{{userId}}/media", delete_user_media),
        web.get(f"{ADMIN_V1}/statistics/users/media", usage),
    ]
