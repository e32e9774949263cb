"""Synapse's rooms admin API: list, details, members, state, block, delete
(docs/admin_api/rooms.md in Synapse). Deleting is synchronous in both versions; the v2
one answers with a `delete_id` whose status is already `complete`, or `failed` when the
purge could not be done (see services/admin/rooms.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.admin.requests import (
    ADMIN_V1,
    ADMIN_V2,
    body_flag,
    bool_param,
    choice_param,
    int_param,
    require_admin,
    room_id_param,
)
from veche.api.client.auth_helpers import read_optional_json_body
from veche.api.http import json_response, read_json_body
from veche.errors import MatrixError, invalid_param, missing_param
from veche.services.admin.rooms import (
    DEFAULT_NOTICE_MESSAGE,
    DEFAULT_NOTICE_ROOM_NAME,
    ORDER_FIELDS,
    DeletionResult,
    RoomDeletion,
    RoomQuery,
)

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    rooms = hs.admin.rooms

    async def list_rooms(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        query = RoomQuery(
            start=int_param(request, "from", 0),
            limit=int_param(request, "limit", 100),
            order_by=choice_param(request, "order_by", ORDER_FIELDS, "name"),
            reverse=choice_param(request, "dir", ("f", "b"), "f") == "b",
            search_term=request.query.get("search_term"),
            public_rooms=bool_param(request, "public_rooms", None),
            empty_rooms=bool_param(request, "empty_rooms", None),
        )
        page, total = await rooms.list_rooms(query)
        body: dict[str, Any] = {"rooms": page, "offset": query.start, "total_rooms": total}
        if query.start + len(page) < total:
            body["next_batch"] = query.start + len(page)
        if query.start > 0:
            body["prev_batch"] = max(0, query.start - query.limit)
        return json_response(body)

    async def get_room(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        return json_response(await rooms.get_room(room_id_param(request)))

    async def members(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        found = await rooms.members(room_id_param(request))
        return json_response({"members": found, "total": len(found)})

    async def state(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        events = await rooms.state(room_id_param(request))
        now_ms = int(time.time() * 1000)
        return json_response({"state": await hs.serializer.serialize(events, requester=None, now_ms=now_ms)})

    async def forward_extremities(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        results = await rooms.forward_extremities(room_id_param(request))
        return json_response({"count": len(results), "results": results})

    async def get_block(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        blocked_by = await rooms.blocked_by(room_id_param(request))
        body: dict[str, Any] = {"block": blocked_by is not None}
        if blocked_by is not None:
            body["user_id"] = blocked_by
        return json_response(body)

    async def put_block(request: web.Request) -> web.Response:
        requester = await require_admin(hs, request)
        room_id = room_id_param(request)
        body = await read_json_body(request)
        if "block" not in body:
            raise missing_param("Missing block")
        blocked = body_flag(body, "block", False)
        await rooms.block(requester.user_id, room_id, blocked)
        return json_response({"block": blocked})

    async def delete_v1(request: web.Request) -> web.Response:
        requester = await require_admin(hs, request)
        room_id = room_id_param(request)
        deletion = _deletion(await read_optional_json_body(request))
        result = await rooms.delete(requester.user_id, room_id, deletion)
        if result.error:
            raise MatrixError(400, "M_UNKNOWN", result.error)
        return json_response(result.to_json())

    async def delete_v2(request: web.Request) -> web.Response:
        requester = await require_admin(hs, request)
        room_id = room_id_param(request)
        deletion = _deletion(await read_optional_json_body(request))
        result = await rooms.delete(requester.user_id, room_id, deletion)
        return json_response({"delete_id": rooms.record_deletion(room_id, result)})

    async def room_delete_status(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        found = rooms.deletions_of(room_id_param(request))
        return json_response({"results": [_status(result, delete_id) for delete_id, result in found]})

    async def delete_status(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        return json_response(_status(rooms.deletion(request.match_info["deleteId"])))

    room = f"{ADMIN_V1}/rooms/{{roomId}}"
    return [
        web.get(f"{ADMIN_V1}/rooms", list_rooms),
        web.get(room, get_room),
        web.delete(room, delete_v1),
        web.get(f"{room}/members", members),
        web.get(f"{room}/state", state),
        web.get(f"{room}/forward_extremities", forward_extremities),
        web.get(f"{room}/block", get_block),
        web.put(f"{room}/block", put_block),
        web.delete(f"{ADMIN_V2}/rooms/{{roomId}}", delete_v2),
        web.get(f"{ADMIN_V2}/rooms/{{roomId}}/delete_status", room_delete_status),
        web.get(f"{ADMIN_V2}/rooms/delete_status/{{deleteId}}", delete_status),
    ]


def _deletion(body: dict[str, Any]) -> RoomDeletion:
    new_room_user_id = body.get("new_room_user_id")
    room_name = body.get("room_name", DEFAULT_NOTICE_ROOM_NAME)
    message = body.get("message", DEFAULT_NOTICE_MESSAGE)
    for key, value in (("new_room_user_id", new_room_user_id), ("room_name", room_name), ("message", message)):
        if value is not None and not isinstance(value, str):
            raise invalid_param(f"{key} must be a string")
    return RoomDeletion(
        block=body_flag(body, "block", False),
        purge=body_flag(body, "purge", True),
        force_purge=body_flag(body, "force_purge", False),
        new_room_user_id=new_room_user_id,
        room_name=room_name or DEFAULT_NOTICE_ROOM_NAME,
        message=message or DEFAULT_NOTICE_MESSAGE,
    )


def _status(result: DeletionResult, delete_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "failed" if result.error else "complete",
        "error": result.error,
        "shutdown_room": result.to_json(),
    }
    if delete_id is not None:
        body["delete_id"] = delete_id
    return body
