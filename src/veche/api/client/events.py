"""Reading a room's events, state and members (rooms.yaml GET /event, /state, /members,
/joined_members; event_context.yaml; message_pagination.yaml; room_event_by_timestamp.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import orjson
from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import invalid_param, missing_param
from veche.protocol.filters import FilterError, RoomEventFilter, parse_room_event_filter
from veche.protocol.identifiers import InvalidIdentifier, validate_room_id
from veche.services.rooms.reading import DEFAULT_LIMIT, MAX_LIMIT

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = f"{CLIENT_PREFIX}/v1"
V3 = f"{CLIENT_PREFIX}/v3"
_MEMBERSHIPS = frozenset({"join", "invite", "knock", "leave", "ban"})


def routes(hs: HomeServer) -> list[web.RouteDef]:
    reader = hs.room_reader
    now_ms = hs.sender.now_ms

    async def get_event(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        served = await reader.get_event(requester, room_id_of(request), event_id_of(request), now_ms())
        return json_response(served)

    async def get_context(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        response = await reader.context(
            requester,
            room_id_of(request),
            event_id_of(request),
            limit=parse_limit(request.query.get("limit")),
            event_filter=parse_filter_param(request.query.get("filter")),
            now_ms=now_ms(),
        )
        return json_response(response)

    async def get_messages(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        query = request.query
        response = await reader.messages(
            requester,
            room_id_of(request),
            direction=parse_dir(query.get("dir"), default=None),
            from_token=query.get("from") or None,
            to_token=query.get("to") or None,
            limit=parse_limit(query.get("limit")),
            event_filter=parse_filter_param(query.get("filter")),
            now_ms=now_ms(),
        )
        return json_response(response)

    async def get_state(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(await reader.state(requester, room_id_of(request), now_ms()))

    async def get_state_event(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        served = await reader.state_event(
            requester,
            room_id_of(request),
            request.match_info["eventType"],
            request.match_info.get("stateKey", ""),
            now_ms(),
        )
        if request.query.get("format", "content") == "event":
            return json_response(served)
        return json_response(served["content"])

    async def get_members(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        query = request.query
        chunk = await reader.members(
            requester,
            room_id_of(request),
            at=query.get("at") or None,
            membership=parse_membership(query.get("membership"), "membership"),
            not_membership=parse_membership(query.get("not_membership"), "not_membership"),
            now_ms=now_ms(),
        )
        return json_response({"chunk": chunk})

    async def get_joined_members(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response({"joined": await reader.joined_members(requester, room_id_of(request))})

    async def timestamp_to_event(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        ts_text = request.query.get("ts")
        if ts_text is None:
            raise missing_param("ts is required")
        try:
            ts = int(ts_text)
        except ValueError:
            raise invalid_param("ts must be an integer") from None
        # The timestamp is compared in SQL, which binds 64 bits at most.
        if not -(2**63) <= ts < 2**63:
            raise invalid_param("ts is out of range")
        direction = parse_dir(request.query.get("dir"), default=None)
        return json_response(await reader.timestamp_to_event(requester, room_id_of(request), ts, direction))

    return [
        web.get(V3 + "/rooms/{roomId}/event/{eventId}", get_event),
        web.get(V3 + "/rooms/{roomId}/context/{eventId}", get_context),
        web.get(V3 + "/rooms/{roomId}/messages", get_messages),
        web.get(V3 + "/rooms/{roomId}/state", get_state),
        web.get(V3 + "/rooms/{roomId}/state/{eventType}", get_state_event),
        web.get(V3 + "/rooms/{roomId}/state/{eventType}/{stateKey:.*}", get_state_event),
        web.get(V3 + "/rooms/{roomId}/members", get_members),
        web.get(V3 + "/rooms/{roomId}/joined_members", get_joined_members),
        web.get(V1 + "/rooms/{roomId}/timestamp_to_event", timestamp_to_event),
    ]


def room_id_of(request: web.Request) -> str:
    room_id = request.match_info["roomId"]
    try:
        validate_room_id(room_id)
    except InvalidIdentifier as e:
        raise invalid_param(str(e)) from None
    return room_id


def event_id_of(request: web.Request) -> str:
    # Not checked against the ID grammar: an ID we do not hold is simply not found (404).
    return request.match_info["eventId"]


def parse_limit(value: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """A `limit` query parameter: a non-negative integer, capped at `maximum`."""
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise invalid_param("limit must be an integer") from None
    if limit < 0:
        raise invalid_param("limit must not be negative")
    return min(limit, maximum)


def parse_dir(value: str | None, *, default: Literal["b", "f"] | None) -> Literal["b", "f"]:
    if value is None:
        if default is None:
            raise missing_param("dir is required")
        return default
    if value == "b":
        return "b"
    if value == "f":
        return "f"
    raise invalid_param("dir must be 'b' or 'f'")


def parse_filter_param(value: str | None) -> RoomEventFilter:
    if not value:
        return RoomEventFilter()
    try:
        return parse_room_event_filter(orjson.loads(value))
    except (orjson.JSONDecodeError, FilterError) as e:
        raise invalid_param(f"Invalid filter: {e}") from None


def parse_membership(value: str | None, name: str) -> str | None:
    if value is not None and value not in _MEMBERSHIPS:
        raise invalid_param(f"{name} must be one of {', '.join(sorted(_MEMBERSHIPS))}")
    return value
