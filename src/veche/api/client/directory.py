"""The published room directory (client-server-api/_index.md "Published room directory";
list_public_rooms.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.client.auth_helpers import read_optional_json_body
from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import bad_json, invalid_param
from veche.protocol.identifiers import InvalidIdentifier, is_valid_server_name, validate_room_id
from veche.services.rooms.directory import PublicRoomsQuery

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    directory = hs.public_rooms

    async def get_visibility(request: web.Request) -> web.Response:
        visibility = await directory.get_visibility(_room_id(request))
        return json_response({"visibility": visibility})

    async def put_visibility(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = _room_id(request)
        body = await read_optional_json_body(request)
        visibility = body.get("visibility", "public")
        if not isinstance(visibility, str):
            raise bad_json("visibility must be a string")
        await directory.set_visibility(requester.user_id, room_id, visibility, hs.sender.now_ms())
        return json_response({})

    async def get_public_rooms(request: web.Request) -> web.Response:
        # list_public_rooms.yaml lists no security for GET: it may be called without a token.
        limit = request.query.get("limit")
        try:
            parsed_limit = int(limit) if limit is not None else None
        except ValueError:
            raise invalid_param("limit must be an integer") from None
        query = PublicRoomsQuery(limit=parsed_limit, since=request.query.get("since"))
        return json_response(await directory.public_rooms(query, _server(request)))

    async def post_public_rooms(request: web.Request) -> web.Response:
        await hs.auth.require(request, allow_guest=True)
        body = await read_optional_json_body(request)
        return json_response(await directory.public_rooms(public_rooms_query(body), _server(request)))

    return [
        web.get(V3 + "/directory/list/room/{roomId}", get_visibility),
        web.put(V3 + "/directory/list/room/{roomId}", put_visibility),
        web.get(f"{V3}/publicRooms", get_public_rooms),
        web.post(f"{V3}/publicRooms", post_public_rooms),
    ]


def _server(request: web.Request) -> str | None:
    """The `server` whose directory is asked for; anything but a server name is refused
    here rather than sent to server discovery."""
    server = request.query.get("server")
    if server is not None and not is_valid_server_name(server):
        raise invalid_param(f"server: {server!r} is not a server name")
    return server


def public_rooms_query(body: dict[str, Any]) -> PublicRoomsQuery:
    """The POST /publicRooms body (client and federation alike) as a query."""
    limit = body.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise bad_json("limit must be an integer")
    since = body.get("since")
    if since is not None and not isinstance(since, str):
        raise bad_json("since must be a string")
    filter_ = body.get("filter") or {}
    if not isinstance(filter_, dict):
        raise bad_json("filter must be an object")
    term = filter_.get("generic_search_term")
    if term is not None and not isinstance(term, str):
        raise bad_json("filter.generic_search_term must be a string")
    room_types = filter_.get("room_types")
    if room_types is not None and (
        not isinstance(room_types, list) or not all(t is None or isinstance(t, str) for t in room_types)
    ):
        raise bad_json("filter.room_types must be a list of strings and nulls")
    include_all = body.get("include_all_networks", False)
    instance = body.get("third_party_instance_id")
    if not isinstance(include_all, bool) or (instance is not None and not isinstance(instance, str)):
        raise bad_json("include_all_networks must be a boolean and third_party_instance_id a string")
    if include_all and instance is not None:
        raise invalid_param("third_party_instance_id cannot be used with include_all_networks")
    return PublicRoomsQuery(
        limit=limit,
        since=since,
        search_term=term,
        room_types=room_types,
        third_party_instance_id=instance,
    )


def _room_id(request: web.Request) -> str:
    room_id = request.match_info["roomId"]
    try:
        validate_room_id(room_id)
    except InvalidIdentifier as e:
        raise invalid_param(str(e)) from None
    return room_id
