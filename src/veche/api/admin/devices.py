"""Synapse's admin API for a user's devices: list, show, rename, delete one or several
(docs/admin_api/user_admin_api.md, "User devices"). Deleting needs no password here: the
admin's token is the authority, as in Synapse."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.admin.requests import ADMIN_V2, require_admin
from veche.api.http import json_response, read_json_body
from veche.errors import invalid_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer
    from veche.storage.accounts import Device


def routes(hs: HomeServer) -> list[web.RouteDef]:
    users = hs.admin.users
    devices = hs.devices

    async def owner(request: web.Request) -> str:
        await require_admin(hs, request)
        user_id = request.match_info["userId"]
        await users.require_account(user_id)
        return user_id

    async def list_devices(request: web.Request) -> web.Response:
        user_id = await owner(request)
        found = await devices.list(user_id)
        return json_response({"devices": [_device_json(d) for d in found], "total": len(found)})

    async def get_device(request: web.Request) -> web.Response:
        user_id = await owner(request)
        return json_response(_device_json(await devices.get(user_id, request.match_info["deviceId"])))

    async def rename_device(request: web.Request) -> web.Response:
        user_id = await owner(request)
        body = await read_json_body(request)
        device_id = request.match_info["deviceId"]
        if "display_name" not in body:
            await devices.get(user_id, device_id)
            return json_response({})
        display_name = body["display_name"]
        if display_name is not None and not isinstance(display_name, str):
            raise invalid_param("display_name must be a string")
        await devices.rename(user_id, device_id, display_name)
        return json_response({})

    async def delete_device(request: web.Request) -> web.Response:
        user_id = await owner(request)
        # Deleting a device that is already gone succeeds, as in Synapse.
        await devices.delete(user_id, [request.match_info["deviceId"]])
        return json_response({})

    async def delete_devices(request: web.Request) -> web.Response:
        user_id = await owner(request)
        body = await read_json_body(request)
        device_ids = body.get("devices")
        if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
            raise invalid_param("devices must be a list of device IDs")
        await devices.delete(user_id, device_ids)
        return json_response({})

    device_path = f"{ADMIN_V2}/users/{{userId}}/devices/{{deviceId}}"
    return [
        web.get(f"{ADMIN_V2}/users/{{userId}}/devices", list_devices),
        web.get(device_path, get_device),
        web.put(device_path, rename_device),
        web.delete(device_path, delete_device),
        web.post(f"{ADMIN_V2}/users/{{userId}}/delete_devices", delete_devices),
    ]


def _device_json(device: Device) -> dict[str, Any]:
    # Veche does not record user agents; the field is there for tools that show it.
    return {
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
        "last_seen_user_agent": None,
        "user_id": device.user_id,
    }
