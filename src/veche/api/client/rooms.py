"""Creating rooms and sending into them (client-server-api/_index.md "Room creation",
"Sending events to a room", "Redactions"; create_room.yaml, room_send.yaml,
room_state.yaml, redaction.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import MatrixError, invalid_param
from veche.protocol.identifiers import InvalidIdentifier, validate_event_id, validate_room_id
from veche.services.rooms.sending import EventDraft

if TYPE_CHECKING:
    from veche.homeserver import HomeServer
    from veche.storage.accounts import TokenInfo

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    rooms = hs.room_service

    async def create_room(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        room_id = await hs.room_creator.create_room(requester.user_id, body)
        return json_response({"room_id": room_id})

    async def send_message(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = _room_id(request)
        event_type = request.match_info["eventType"]
        body = await read_json_body(request)
        draft = EventDraft(event_type, body, origin_server_ts=_massaged_ts(request, requester))
        event_id = await rooms.send_with_transaction(requester, room_id, draft, request.match_info["txnId"])
        return json_response({"event_id": event_id})

    async def put_state(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = _room_id(request)
        body = await read_json_body(request)
        draft = EventDraft(
            request.match_info["eventType"],
            body,
            request.match_info.get("stateKey", ""),
            origin_server_ts=_massaged_ts(request, requester),
        )
        event_id = await rooms.send_state(requester.user_id, room_id, draft)
        return json_response({"event_id": event_id})

    async def redact(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = _room_id(request)
        target = request.match_info["eventId"]
        try:
            validate_event_id(target)
        except InvalidIdentifier as e:
            raise MatrixError(400, "M_INVALID_PARAM", str(e)) from None
        body = await read_json_body(request)
        content: dict[str, Any] = {}
        if "reason" in body:
            if not isinstance(body["reason"], str):
                raise MatrixError(400, "M_BAD_JSON", "reason must be a string")
            content["reason"] = body["reason"]
        event_id = await rooms.redact(requester, room_id, target, content, request.match_info["txnId"])
        return json_response({"event_id": event_id})

    return [
        web.post(f"{V3}/createRoom", create_room),
        web.put(V3 + "/rooms/{roomId}/send/{eventType}/{txnId}", send_message),
        web.put(V3 + "/rooms/{roomId}/state/{eventType}", put_state),
        web.put(V3 + "/rooms/{roomId}/state/{eventType}/{stateKey:.*}", put_state),
        web.put(V3 + "/rooms/{roomId}/redact/{eventId}/{txnId}", redact),
    ]


def _room_id(request: web.Request) -> str:
    room_id = request.match_info["roomId"]
    try:
        validate_room_id(room_id)
    except InvalidIdentifier as e:
        raise MatrixError(400, "M_INVALID_PARAM", str(e)) from None
    return room_id


def _massaged_ts(request: web.Request, requester: TokenInfo) -> int | None:
    """An application service's `ts` query parameter (application-service-api.md,
    "Timestamp massaging"); ignored from anyone else, as in Synapse."""
    ts = request.query.get("ts")
    if ts is None or requester.appservice_id is None:
        return None
    try:
        value = int(ts)
    except ValueError:
        raise invalid_param("ts must be an integer timestamp in milliseconds") from None
    if not 0 <= value < 2**53:
        raise invalid_param("ts is out of range")
    return value
