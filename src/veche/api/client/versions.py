"""GET /_matrix/client/versions (client-server-api/_index.md, "API Versions")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

# A version is listed once every endpoint and rule that version requires is served, so a
# client that trusts this list is never surprised; the Client-Server work adds entries as
# it completes them. Nothing is served yet beyond discovery, so nothing is claimed.
SUPPORTED_VERSIONS: tuple[str, ...] = ()

UNSTABLE_FEATURES: dict[str, bool] = {}


def routes(hs: HomeServer) -> list[web.RouteDef]:
    body = {"versions": list(SUPPORTED_VERSIONS), "unstable_features": UNSTABLE_FEATURES}

    async def get_versions(request: web.Request) -> web.Response:
        return json_response(body)

    return [web.get(f"{CLIENT_PREFIX}/versions", get_versions)]
