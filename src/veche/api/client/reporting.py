"""Reporting content (modules/report_content.md, report_content.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.client.account_data import room_id_param
from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import bad_json, missing_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    service = hs.user_data.reports

    async def report_event(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = room_id_param(request)
        # `score` was removed in v1.18 and is ignored if an older client still sends it.
        reason = _optional_reason(await read_json_body(request))
        await service.report_event(requester.user_id, room_id, request.match_info["eventId"], reason)
        return json_response({})

    async def report_room(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = room_id_param(request)
        reason = _required_reason(await read_json_body(request))
        await service.report_room(requester.user_id, room_id, reason)
        return json_response({})

    async def report_user(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        reason = _required_reason(await read_json_body(request))
        await service.report_user(requester.user_id, request.match_info["userId"], reason)
        return json_response({})

    return [
        web.post(V3 + "/rooms/{roomId}/report/{eventId}", report_event),
        web.post(V3 + "/rooms/{roomId}/report", report_room),
        web.post(V3 + "/users/{userId}/report", report_user),
    ]


def _optional_reason(body: dict[str, Any]) -> str | None:
    return _required_reason(body) if "reason" in body else None


def _required_reason(body: dict[str, Any]) -> str:
    if "reason" not in body:
        raise missing_param("reason is required")
    reason = body["reason"]
    if not isinstance(reason, str):
        raise bad_json("reason must be a string")
    return reason
