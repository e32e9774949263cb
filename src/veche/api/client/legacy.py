"""The pre-/sync reading endpoints still in the spec (services/legacy_sync.py):
GET /initialSync, GET /events, GET /events/{eventId} (old_sync.yaml), GET
/rooms/{roomId}/initialSync (room_initial_sync.yaml) and the peeking form of GET /events
(peeking_events.yaml); the last two are open to guests (modules/guest_access.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.client.account_data import room_id_param
from veche.api.client.events import parse_limit
from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import invalid_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"
# Per the old API's habit; clients of it asked for few messages per room.
DEFAULT_MESSAGES = 10
DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 120_000


def routes(hs: HomeServer) -> list[web.RouteDef]:
    legacy = hs.legacy_sync

    async def initial_sync(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        limit = parse_limit(request.query.get("limit"), default=DEFAULT_MESSAGES)
        archived = request.query.get("archived", "false") == "true"
        return json_response(await legacy.initial_sync(requester, limit, archived))

    async def room_initial_sync(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        limit = parse_limit(request.query.get("limit"), default=DEFAULT_MESSAGES)
        return json_response(await legacy.room_initial_sync(requester, room_id_param(request), limit))

    async def events(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        room_id = request.query.get("room_id")
        timeout = _timeout(request.query.get("timeout"))
        return json_response(await legacy.events(requester, request.query.get("from"), timeout, room_id))

    async def event(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(await legacy.event(requester, request.match_info["eventId"]))

    return [
        web.get(V3 + "/initialSync", initial_sync),
        web.get(V3 + "/rooms/{roomId}/initialSync", room_initial_sync),
        web.get(V3 + "/events", events),
        web.get(V3 + "/events/{eventId}", event),
    ]


def _timeout(value: str | None) -> int:
    if value is None:
        return DEFAULT_TIMEOUT_MS
    try:
        timeout = int(value)
    except ValueError:
        raise invalid_param("timeout must be an integer") from None
    return max(0, min(timeout, MAX_TIMEOUT_MS))
