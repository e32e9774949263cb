"""Device management (modules/device_management.md, device_management.yaml).

Deleting devices needs the password again (UIA), as the module's security considerations
advise: a stolen access token alone must not be able to log the owner out everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.client.auth_helpers import read_optional_json_body, uia_action
from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import invalid_param, missing_param
from veche.services.uia import PASSWORD
from veche.storage.accounts import Device

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"
PASSWORD_FLOWS = [[PASSWORD]]


def routes(hs: HomeServer) -> list[web.RouteDef]:
    devices = hs.devices
    uia = hs.uia

    async def list_devices(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        found = await devices.list(requester.user_id)
        return json_response({"devices": [_device_json(d) for d in found]})

    async def get_device(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        device = await devices.get(requester.user_id, request.match_info["deviceId"])
        return json_response(_device_json(device))

    async def update_device(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        device_id = request.match_info["deviceId"]
        if "display_name" not in body:
            # Nothing to change, but an unknown device is still a 404.
            await devices.get(requester.user_id, device_id)
            return json_response({})
        display_name = body["display_name"]
        if display_name is not None and not isinstance(display_name, str):
            raise invalid_param("display_name must be a string")
        await devices.rename(requester.user_id, device_id, display_name)
        return json_response({})

    async def delete_device(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_optional_json_body(request)
        await uia.check(body, requester, PASSWORD_FLOWS, uia_action(request))
        await devices.delete(requester.user_id, [request.match_info["deviceId"]])
        return json_response({})

    async def delete_devices(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        device_ids = _device_ids(body)
        await uia.check(body, requester, PASSWORD_FLOWS, uia_action(request))
        await devices.delete(requester.user_id, device_ids)
        return json_response({})

    return [
        web.get(f"{V3}/devices", list_devices),
        web.get(f"{V3}/devices/{{deviceId}}", get_device),
        web.put(f"{V3}/devices/{{deviceId}}", update_device),
        web.delete(f"{V3}/devices/{{deviceId}}", delete_device),
        web.post(f"{V3}/delete_devices", delete_devices),
    ]


def _device_ids(body: dict[str, Any]) -> list[str]:
    device_ids = body.get("devices")
    if device_ids is None:
        raise missing_param("Missing devices")
    if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
        raise invalid_param("devices must be a list of device IDs")
    return device_ids


def _device_json(device: Device) -> dict[str, Any]:
    # Absent rather than null, as client_device.yaml describes each optional field.
    body: dict[str, Any] = {"device_id": device.device_id}
    if device.display_name is not None:
        body["display_name"] = device.display_name
    if device.last_seen_ip is not None:
        body["last_seen_ip"] = device.last_seen_ip
    if device.last_seen_ts is not None:
        body["last_seen_ts"] = device.last_seen_ts
    return body
