"""GET /_matrix/federation/v1/query/profile and /query/directory (server-server
query.yaml): this server's users' profiles and this server's room aliases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response
from veche.errors import missing_param, not_found
from veche.protocol.identifiers import InvalidIdentifier, parse_room_alias

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = "/_matrix/federation/v1"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def profile(request: web.Request) -> web.Response:
        await hs.server_auth.require(request)
        user_id = _required(request, "user_id")
        field = request.query.get("field")
        found = await hs.profiles.lookup_local(user_id)
        if field is not None:
            # query.yaml: with a field, the answer holds that field only, 404 if unset.
            if field not in found:
                raise not_found(f"{user_id} has no profile field {field}")
            found = {field: found[field]}
        return json_response(found)

    async def directory(request: web.Request) -> web.Response:
        await hs.server_auth.require(request)
        alias = _required(request, "room_alias")
        try:
            server_name = parse_room_alias(alias).server_name
        except InvalidIdentifier:
            raise not_found("Room alias not found") from None
        # query.yaml: servers only ask about aliases of the server they ask.
        if server_name != hs.server_name:
            raise not_found("Room alias not found")
        room_id, servers = await hs.room_aliases.resolve(alias)
        return json_response({"room_id": room_id, "servers": servers})

    return [
        web.get(f"{V1}/query/profile", profile),
        web.get(f"{V1}/query/directory", directory),
    ]


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise missing_param(f"Missing {name}")
    return value
