"""What every admin handler shares: the admin check and Synapse's query parameter rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.errors import forbidden, invalid_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer
    from veche.storage.accounts import TokenInfo

ADMIN_V1 = "/_synapse/admin/v1"
ADMIN_V2 = "/_synapse/admin/v2"
MAX_QUERY_INT = 2**53 - 1


async def require_admin(hs: HomeServer, request: web.Request) -> TokenInfo:
    """The requester, if a server admin: 401 without a valid token, 403 M_FORBIDDEN otherwise."""
    requester = await hs.auth.require(request)
    account = await hs.accounts.get_account(requester.user_id)
    if account is None or not account.is_admin:
        raise forbidden("You are not a server admin")
    return requester


def page_json(key: str, page: list[Any], total: int, start: int) -> dict[str, Any]:
    """Synapse's paged listing: the page under `key`, how many there are in all, and
    `next_token`, where the next page starts, if there is one."""
    body: dict[str, Any] = {key: page, "total": total}
    if start + len(page) < total:
        body["next_token"] = start + len(page)
    return body


def int_param(request: web.Request, name: str, default: int, *, minimum: int = 0) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(f"Query parameter {name!r} must be an integer") from None
    if value < minimum:
        raise invalid_param(f"Query parameter {name!r} must be at least {minimum}")
    if value > MAX_QUERY_INT:
        # Beyond what a database integer (or a JSON number in a client) holds.
        raise invalid_param(f"Query parameter {name!r} is too large")
    return value


def bool_param(request: web.Request, name: str, default: bool | None) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise invalid_param(f"Query parameter {name!r} must be true or false")
    return raw == "true"


def choice_param(request: web.Request, name: str, choices: tuple[str, ...] | frozenset[str], default: str) -> str:
    value = request.query.get(name, default)
    if value not in choices:
        raise invalid_param(f"Query parameter {name!r} must be one of {sorted(choices)}")
    return value


def body_flag(body: dict[str, object], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise invalid_param(f"{name} must be a boolean")
    return value


def room_id_param(request: web.Request) -> str:
    room_id = request.match_info["roomId"]
    if not room_id.startswith("!"):
        raise invalid_param(f"{room_id!r} is not a valid room ID")
    return room_id
