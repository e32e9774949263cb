"""GET /_matrix/client/v3/sync (client-server-api/_index.md "Syncing"; sync.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response
from veche.errors import MatrixError, invalid_param
from veche.protocol.filters import DEFAULT_FILTER, Filter, FilterError, parse_filter, parse_filter_json
from veche.services.streams import InvalidToken, StreamToken

if TYPE_CHECKING:
    from veche.homeserver import HomeServer


def routes(hs: HomeServer) -> list[web.RouteDef]:
    async def sync(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        query = request.query
        since = _parse_since(query.get("since"))
        sync_filter = await _resolve_filter(hs, requester.user_id, query.get("filter"))
        set_presence = query.get("set_presence", "online")
        await hs.user_data.presence.set_presence_from_sync(requester.user_id, set_presence)
        body = await hs.sync.sync(
            requester,
            since=since,
            sync_filter=sync_filter,
            full_state=_parse_bool(query.get("full_state"), "full_state"),
            timeout_ms=_parse_timeout(query.get("timeout")),
            use_state_after=_parse_bool(query.get("use_state_after"), "use_state_after"),
        )
        return json_response(body)

    return [web.get(f"{CLIENT_PREFIX}/v3/sync", sync)]


def _parse_since(value: str | None) -> StreamToken | None:
    if value is None:
        return None
    try:
        return StreamToken.parse(value)
    except InvalidToken:
        raise invalid_param(f"Unknown since token {value!r}") from None


def _parse_bool(value: str | None, name: str) -> bool:
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise invalid_param(f"{name} must be true or false")


def _parse_timeout(value: str | None) -> int:
    if value is None:
        return 0
    try:
        timeout = int(value)
    except ValueError:
        raise invalid_param("timeout must be an integer") from None
    return max(timeout, 0)


async def _resolve_filter(hs: HomeServer, user_id: str, value: str | None) -> Filter:
    """The `filter` parameter: an inline JSON filter, or the ID of an uploaded one."""
    if value is None:
        return DEFAULT_FILTER
    try:
        if value.startswith("{"):
            try:
                return parse_filter_json(value)
            except orjson.JSONDecodeError:
                raise MatrixError(400, "M_NOT_JSON", "filter is not valid JSON") from None
        definition = await hs.user_data.filters.get_filter(user_id, value)
        if definition is None:
            raise MatrixError(404, "M_NOT_FOUND", f"No filter {value!r}")
        return parse_filter(definition)
    except FilterError as e:
        raise MatrixError(400, "M_BAD_JSON", f"Invalid filter: {e}") from None
