"""Room membership endpoints (client-server-api/_index.md "Room membership"; joining.yaml,
inviting.yaml, leaving.yaml, kicking.yaml, banning.yaml, knocking.yaml, list_joined_rooms.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.client.auth_helpers import read_optional_json_body
from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import bad_json, invalid_param, missing_param
from veche.protocol.identifiers import InvalidIdentifier, is_valid_server_name, parse_user_id, validate_room_id

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    membership = hs.membership

    async def join_by_id(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        body = await read_optional_json_body(request)
        room_id = await membership.join(
            requester.user_id,
            _room_id(request),
            reason=_reason(body),
            third_party_signed=body.get("third_party_signed"),
            is_guest=requester.is_guest,
        )
        return json_response({"room_id": room_id})

    async def join(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_optional_json_body(request)
        room_id = await membership.join(
            requester.user_id,
            _room_id_or_alias(request),
            reason=_reason(body),
            via=_via(request),
            third_party_signed=body.get("third_party_signed"),
        )
        return json_response({"room_id": room_id})

    async def knock(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_optional_json_body(request)
        room_id = await membership.knock(
            requester.user_id, _room_id_or_alias(request), reason=_reason(body), via=_via(request)
        )
        return json_response({"room_id": room_id})

    async def leave(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        body = await read_optional_json_body(request)
        await membership.leave(requester.user_id, _room_id(request), _reason(body))
        return json_response({})

    async def forget(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        await membership.forget(requester.user_id, _room_id(request))
        return json_response({})

    def on_target(action: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            requester = await hs.auth.require(request)
            room_id = _room_id(request)
            body = await read_optional_json_body(request)
            await action(requester.user_id, room_id, _target(body), _reason(body))
            return json_response({})

        return handler

    async def joined_rooms(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response({"joined_rooms": await membership.joined_rooms(requester.user_id)})

    return [
        web.post(V3 + "/rooms/{roomId}/join", join_by_id),
        web.post(V3 + "/join/{roomIdOrAlias}", join),
        web.post(V3 + "/knock/{roomIdOrAlias}", knock),
        web.post(V3 + "/rooms/{roomId}/leave", leave),
        web.post(V3 + "/rooms/{roomId}/forget", forget),
        web.post(V3 + "/rooms/{roomId}/invite", on_target(membership.invite)),
        web.post(V3 + "/rooms/{roomId}/kick", on_target(membership.kick)),
        web.post(V3 + "/rooms/{roomId}/ban", on_target(membership.ban)),
        web.post(V3 + "/rooms/{roomId}/unban", on_target(membership.unban)),
        web.get(f"{V3}/joined_rooms", joined_rooms),
    ]


def _room_id(request: web.Request) -> str:
    room_id = request.match_info["roomId"]
    try:
        validate_room_id(room_id)
    except InvalidIdentifier as e:
        raise invalid_param(str(e)) from None
    return room_id


def _room_id_or_alias(request: web.Request) -> str:
    value = request.match_info["roomIdOrAlias"]
    if value.startswith("!"):
        try:
            validate_room_id(value)
        except InvalidIdentifier as e:
            raise invalid_param(str(e)) from None
    elif not value.startswith("#"):
        raise invalid_param(f"{value!r} is neither a room ID nor a room alias")
    return value


def _via(request: web.Request) -> list[str]:
    # `server_name` was deprecated for `via` in v1.12 (changelog/v1.12.md); clients still send it.
    servers = request.query.getall("via", []) + request.query.getall("server_name", [])
    for server in servers:
        if not is_valid_server_name(server):
            raise invalid_param(f"via: {server!r} is not a server name")
    return list(dict.fromkeys(servers))


def _reason(body: dict[str, Any]) -> str | None:
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise bad_json("reason must be a string")
    return reason


def _target(body: dict[str, Any]) -> str:
    user_id = body.get("user_id")
    if user_id is None:
        raise missing_param("user_id is required")
    if not isinstance(user_id, str):
        raise bad_json("user_id must be a string")
    try:
        parse_user_id(user_id)
    except InvalidIdentifier as e:
        raise invalid_param(str(e)) from None
    return user_id
