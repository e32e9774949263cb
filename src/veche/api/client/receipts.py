"""Receipts and read markers (modules/receipts.md, read_markers.md; receipts.yaml,
read_markers.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.client.account_data import room_id_param
from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import bad_json, invalid_param
from veche.services.receipts import FULLY_READ, READ, READ_PRIVATE

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    service = hs.user_data.receipts

    async def post_receipt(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = room_id_param(request)
        # Older clients send no body at all; it only ever carries the optional thread_id.
        body = await read_json_body(request) if request.body_exists else {}
        thread_id = body.get("thread_id")
        if "thread_id" in body and (not isinstance(thread_id, str) or not thread_id):
            raise invalid_param("thread_id field must be a non-empty string")
        await service.send_receipt(
            room_id,
            requester.user_id,
            request.match_info["receiptType"],
            request.match_info["eventId"],
            thread_id,
        )
        return json_response({})

    async def post_read_markers(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = room_id_param(request)
        body = await read_json_body(request)
        await service.set_read_markers(
            room_id,
            requester.user_id,
            fully_read=_event_id(body, FULLY_READ),
            read=_event_id(body, READ),
            read_private=_event_id(body, READ_PRIVATE),
        )
        return json_response({})

    return [
        web.post(V3 + "/rooms/{roomId}/receipt/{receiptType}/{eventId}", post_receipt),
        web.post(V3 + "/rooms/{roomId}/read_markers", post_read_markers),
    ]


def _event_id(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_json(f"{key} must be an event ID")
    return value
