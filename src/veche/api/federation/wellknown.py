"""GET /.well-known/matrix/server: the delegated server name, served when the operator
turns `serve_server_wellknown` on (server-server-api.md, "Resolving server names" step 3).

It is fetched at https://<server name's hostname>/ on the default port, which is usually
where clients are served, so it belongs to the `client` resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    config = hs.config
    if not config.serve_server_wellknown or config.delegated_server_name is None:
        return []
    body = {"m.server": config.delegated_server_name}

    async def get_server_wellknown(request: web.Request) -> web.Response:
        return json_response(body)

    return [web.get("/.well-known/matrix/server", get_server_wellknown)]
