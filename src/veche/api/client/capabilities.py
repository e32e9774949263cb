"""GET /capabilities (client-server-api/_index.md, "Capabilities negotiation")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, STABLE_ROOM_VERSIONS

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"


def server_capabilities(default_room_version: str) -> dict[str, Any]:
    return {
        "m.change_password": {"enabled": True},
        "m.room_versions": {
            "default": default_room_version,
            "available": {
                version: "stable" if version in STABLE_ROOM_VERSIONS else "unstable"
                for version in KNOWN_ROOM_VERSIONS
            },
        },
        "m.set_displayname": {"enabled": True},
        "m.set_avatar_url": {"enabled": True},
        # No third-party identifiers are bound here (see api/client/account.py).
        "m.3pid_changes": {"enabled": False},
        "m.get_login_token": {"enabled": False},
        # v1.16: custom profile fields are served (api/client/profile.py), none server-managed.
        "m.profile_fields": {"enabled": True},
        # v1.18: leaving a room does not forget it; clients may offer both.
        "m.forget_forced_upon_leave": {"enabled": False},
    }


def routes(hs: HomeServer) -> list[web.RouteDef]:
    body = {"capabilities": server_capabilities(hs.config.default_room_version)}

    async def get_capabilities(request: web.Request) -> web.Response:
        await hs.auth.require(request, allow_guest=True)
        return json_response(body)

    return [web.get(f"{V3}/capabilities", get_capabilities)]
