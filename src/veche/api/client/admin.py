"""GET /admin/whois/{userId} (modules/admin.md, admin.yaml): a user's devices and where they
were last used, for server admins and for the user themself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import forbidden, not_found

if TYPE_CHECKING:
    from veche.homeserver import HomeServer
    from veche.storage.accounts import Device

V3 = f"{CLIENT_PREFIX}/v3"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def whois(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        user_id = request.match_info["userId"]
        # Authorise before looking the account up, so nobody learns which users exist.
        if user_id != requester.user_id:
            account = await hs.accounts.get_account(requester.user_id)
            if account is None or not account.is_admin:
                raise forbidden("Only server admins can look up other users")
        if not hs.members.is_local(user_id) or await hs.accounts.get_account(user_id) is None:
            raise not_found("No such user on this server")
        devices = await hs.accounts.list_devices(user_id)
        return json_response({"user_id": user_id, "devices": {d.device_id: device_info(d) for d in devices}})

    return [web.get(V3 + "/admin/whois/{userId}", whois)]


def device_info(device: Device) -> dict[str, Any]:
    # Veche keeps one session per device and only its last use (no user agent).
    connection: dict[str, Any] = {}
    if device.last_seen_ip is not None:
        connection["ip"] = device.last_seen_ip
    if device.last_seen_ts is not None:
        connection["last_seen"] = device.last_seen_ts
    return {"sessions": [{"connections": [connection] if connection else []}]}
