"""What other servers read of rooms: GET /event/{eventId}, /state/{roomId},
/state_ids/{roomId}, /event_auth/{roomId}/{eventId} and POST /get_missing_events/{roomId}
(events.yaml, event_auth.yaml, backfill.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.federation.auth import read_federation_body
from veche.errors import MatrixError, missing_param
from veche.protocol.canonical_json import encode_canonical_json
from veche.services.federation.origin_limits import RequestKind

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

FEDERATION_V1 = "/_matrix/federation/v1"
DEFAULT_MISSING_EVENTS_LIMIT = 10


def _events_response(obj: Any) -> web.Response:
    # Events of room versions 1-5 may hold integers orjson cannot write.
    return web.Response(body=encode_canonical_json(obj, strict=False), content_type="application/json")


def _event_id_param(request: web.Request) -> str:
    event_id = request.query.get("event_id")
    if not event_id:
        raise missing_param("event_id is required")
    return event_id


def _string_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MatrixError(400, "M_BAD_JSON", f"{key} must be a list of event IDs")
    return value


def _int(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MatrixError(400, "M_BAD_JSON", f"{key} must be an integer")
    return value


def routes(hs: HomeServer) -> list[web.RouteDef]:
    reads = hs.federation_events.reads

    async def get_event(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request)
        pdu = await reads.get_event(origin, request.match_info["eventId"])
        return _events_response(
            {"origin": hs.server_name, "origin_server_ts": hs.sender.now_ms(), "pdus": [pdu]}
        )

    async def get_state(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        pdus, auth_chain = await reads.get_state(origin, request.match_info["roomId"], _event_id_param(request))
        return _events_response({"pdus": pdus, "auth_chain": auth_chain})

    async def get_state_ids(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        pdu_ids, chain_ids = await reads.get_state_ids(
            origin, request.match_info["roomId"], _event_id_param(request)
        )
        return _events_response({"pdu_ids": pdu_ids, "auth_chain_ids": chain_ids})

    async def get_event_auth(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        chain = await reads.get_event_auth(origin, request.match_info["roomId"], request.match_info["eventId"])
        return _events_response({"auth_chain": chain})

    async def get_missing_events(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request, RequestKind.EXPENSIVE)
        body = await read_federation_body(request) or {}
        events = await reads.get_missing_events(
            origin,
            request.match_info["roomId"],
            _string_list(body, "earliest_events"),
            _string_list(body, "latest_events"),
            _int(body, "limit", DEFAULT_MISSING_EVENTS_LIMIT),
            _int(body, "min_depth", 0),
        )
        return _events_response({"events": events})

    return [
        web.get(f"{FEDERATION_V1}/event/{{eventId}}", get_event),
        web.get(f"{FEDERATION_V1}/state/{{roomId}}", get_state),
        web.get(f"{FEDERATION_V1}/state_ids/{{roomId}}", get_state_ids),
        web.get(f"{FEDERATION_V1}/event_auth/{{roomId}}/{{eventId}}", get_event_auth),
        web.post(f"{FEDERATION_V1}/get_missing_events/{{roomId}}", get_missing_events),
    ]
