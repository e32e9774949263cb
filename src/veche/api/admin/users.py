"""Synapse's user admin API: list, query, create or modify, deactivate, reset the password,
the admin flag, joined rooms, pushers, whois and whether a user name is free (docs/admin_api/user_admin_api.md in Synapse).

Veche binds no third-party identifiers and has no external login providers: `threepids` and
`external_ids` are always empty, and a PUT asking for any is refused (400 M_INVALID_PARAM).
Deactivation with `erase` does what deactivation does anyway (the profile is cleared, the
user leaves every room); events already sent stay visible to those who could see them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.admin.requests import (
    ADMIN_V1,
    ADMIN_V2,
    body_flag,
    bool_param,
    choice_param,
    int_param,
    page_json,
    require_admin,
)
from veche.api.client.admin import device_info
from veche.api.client.auth_helpers import read_optional_json_body
from veche.api.http import json_response, read_json_body
from veche.errors import invalid_param, missing_param
from veche.services.admin.users import ORDER_KEYS, UserChanges, UserQuery

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    users = hs.admin.users

    async def list_users(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        query = _user_query(request)
        page, total = await users.list_users(query)
        body = page_json("users", page, total, query.start)
        if "next_token" in body:
            # A string in Synapse's user listing, unlike its other listings.
            body["next_token"] = str(body["next_token"])
        return json_response(body)

    async def get_user(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        return json_response(await users.get_user(user_id))

    async def put_user(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        changes = _user_changes(await read_json_body(request))
        created = await users.put_user(user_id, changes)
        return json_response(await users.get_user(user_id), status=201 if created else 200)

    async def deactivate(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        body = await read_optional_json_body(request)
        body_flag(body, "erase", False)
        await users.deactivate(request.match_info["userId"])
        return json_response({"id_server_unbind_result": "success"})

    async def reset_password(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        body = await read_json_body(request)
        if "new_password" not in body:
            raise missing_param("Missing new_password")
        logout_devices = body_flag(body, "logout_devices", True)
        await users.reset_password(request.match_info["userId"], body["new_password"], logout_devices=logout_devices)
        return json_response({})

    async def get_admin(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        return json_response({"admin": await users.is_admin(request.match_info["userId"])})

    async def put_admin(request: web.Request) -> web.Response:
        requester = await require_admin(hs, request)
        body = await read_json_body(request)
        if "admin" not in body:
            raise missing_param("Missing admin")
        is_admin = body_flag(body, "admin", False)
        await users.set_admin(requester.user_id, request.match_info["userId"], is_admin)
        return json_response({})

    async def joined_rooms(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        await users.require_account(user_id)
        room_ids = await hs.stores.rooms.get_rooms_for_user(user_id)
        return json_response({"joined_rooms": room_ids, "total": len(room_ids)})

    async def pushers(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        await users.require_account(user_id)
        found = await hs.pushers.get_pushers(user_id)
        return json_response({"pushers": found, "total": len(found)})

    async def username_available(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        username = request.query.get("username")
        if username is None:
            raise missing_param("Missing username")
        # 400 M_INVALID_USERNAME or M_USER_IN_USE otherwise, as registration answers.
        await hs.registration.check_username(username)
        return json_response({"available": True})

    async def whois(request: web.Request) -> web.Response:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        await users.require_account(user_id)
        devices = await hs.accounts.list_devices(user_id)
        return json_response({"user_id": user_id, "devices": {d.device_id: device_info(d) for d in devices}})

    return [
        web.get(f"{ADMIN_V2}/users", list_users),
        web.get(f"{ADMIN_V2}/users/{{userId}}", get_user),
        web.put(f"{ADMIN_V2}/users/{{userId}}", put_user),
        web.post(f"{ADMIN_V1}/deactivate/{{userId}}", deactivate),
        web.post(f"{ADMIN_V1}/reset_password/{{userId}}", reset_password),
        web.get(f"{ADMIN_V1}/users/{{userId}}/admin", get_admin),
        web.put(f"{ADMIN_V1}/users/{{userId}}/admin", put_admin),
        web.get(f"{ADMIN_V1}/users/{{userId}}/joined_rooms", joined_rooms),
        web.get(f"{ADMIN_V1}/users/{{userId}}/pushers", pushers),
        web.get(f"{ADMIN_V1}/whois/{{userId}}", whois),
        web.get(f"{ADMIN_V1}/username_available", username_available),
    ]


def _user_query(request: web.Request) -> UserQuery:
    return UserQuery(
        start=int_param(request, "from", 0),
        limit=int_param(request, "limit", 100),
        guests=bool(bool_param(request, "guests", True)),
        deactivated=bool(bool_param(request, "deactivated", False)),
        admins=bool_param(request, "admins", None),
        user_id=request.query.get("user_id"),
        name=request.query.get("name"),
        order_by=choice_param(request, "order_by", frozenset(ORDER_KEYS), "name"),
        reverse=choice_param(request, "dir", ("f", "b"), "f") == "b",
    )


def _user_changes(body: dict[str, Any]) -> UserChanges:
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise invalid_param("password must be a string")
    for key in ("displayname", "avatar_url"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise invalid_param(f"{key} must be a string")
    for key in ("threepids", "external_ids"):
        value = body.get(key)
        if value is not None and not isinstance(value, list):
            raise invalid_param(f"{key} must be a list")
        if value:
            raise invalid_param(f"This server does not support {key}")
    admin = body.get("admin")
    deactivated = body.get("deactivated")
    return UserChanges(
        password=password,
        logout_devices=body_flag(body, "logout_devices", True),
        displayname=body.get("displayname"),
        set_displayname="displayname" in body,
        avatar_url=body.get("avatar_url"),
        set_avatar_url="avatar_url" in body,
        admin=None if admin is None else body_flag(body, "admin", False),
        deactivated=None if deactivated is None else body_flag(body, "deactivated", False),
    )
