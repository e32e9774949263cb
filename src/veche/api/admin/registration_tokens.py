"""Synapse's registration tokens admin API (docs/admin_api/registration_tokens.md in
Synapse): the tokens `registration: token` mode asks new users for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.admin.requests import ADMIN_V1, bool_param, require_admin
from veche.api.http import json_response, read_json_body

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

TOKENS = f"{ADMIN_V1}/registration_tokens"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    tokens = hs.admin.registration_tokens

    async def list_tokens(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        valid = bool_param(request, "valid", None)
        return json_response({"registration_tokens": await tokens.list(valid)})

    async def create_token(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        return json_response(await tokens.create(await read_json_body(request)))

    async def get_token(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        return json_response(await tokens.get(request.match_info["token"]))

    async def update_token(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        body = await read_json_body(request)
        return json_response(await tokens.update(request.match_info["token"], body))

    async def delete_token(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        await tokens.delete(request.match_info["token"])
        return json_response({})

    # "new" is a path of its own, declared before the {token} routes it would match.
    return [
        web.get(TOKENS, list_tokens),
        web.post(f"{TOKENS}/new", create_token),
        web.get(f"{TOKENS}/{{token}}", get_token),
        web.put(f"{TOKENS}/{{token}}", update_token),
        web.delete(f"{TOKENS}/{{token}}", delete_token),
    ]
