"""Synapse's event reports admin API (docs/admin_api/event_reports.md in Synapse): the
reports users made with POST /rooms/{roomId}/report/{eventId}."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.admin.requests import ADMIN_V1, choice_param, int_param, page_json, require_admin
from veche.api.http import json_response
from veche.errors import invalid_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    reports = hs.admin.reports

    async def list_reports(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        start = int_param(request, "from", 0)
        page, total = await reports.list(
            start=start,
            limit=int_param(request, "limit", 100),
            # Newest first unless asked otherwise, as in Synapse.
            newest_first=choice_param(request, "dir", ("f", "b"), "b") == "b",
            reporter=request.query.get("user_id"),
            room_id=request.query.get("room_id"),
        )
        return json_response(page_json("event_reports", page, total, start))

    async def get_report(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        return json_response(await reports.get(_report_id(request)))

    async def delete_report(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        await reports.delete(_report_id(request))
        return json_response({})

    return [
        web.get(f"{ADMIN_V1}/event_reports", list_reports),
        web.get(f"{ADMIN_V1}/event_reports/{{reportId}}", get_report),
        web.delete(f"{ADMIN_V1}/event_reports/{{reportId}}", delete_report),
    ]


def _report_id(request: web.Request) -> int:
    raw = request.match_info["reportId"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise invalid_param("The report ID must be a positive integer")
    return int(raw)
