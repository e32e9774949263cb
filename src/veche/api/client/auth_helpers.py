"""Request helpers the account endpoints share: optional auth, optional bodies, UIA actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.http import extract_access_token, read_json_body
from veche.services.auth import Session

if TYPE_CHECKING:
    from veche.homeserver import HomeServer
    from veche.storage.accounts import TokenInfo


async def optional_requester(hs: HomeServer, request: web.Request) -> TokenInfo | None:
    """The requester for endpoints that work with or without an access token; a token
    that is sent must still be valid."""
    if extract_access_token(request) is None:
        return None
    return await hs.auth.require(request)


async def read_optional_json_body(request: web.Request) -> dict[str, Any]:
    """The JSON body, or {} when there is none (clients send DELETE without one)."""
    if not request.can_read_body:
        return {}
    return await read_json_body(request)


def uia_action(request: web.Request) -> str:
    """What a UIA session authorises: this method on this path, and nothing else."""
    return f"{request.method} {request.path}"


def client_ip(request: web.Request) -> str | None:
    return request.remote


def session_body(session: Session) -> dict[str, Any]:
    """The token part of a /login, /register or /refresh response."""
    body: dict[str, Any] = {
        "user_id": session.user_id,
        "access_token": session.access_token,
        "device_id": session.device_id,
    }
    if session.refresh_token is not None:
        body["refresh_token"] = session.refresh_token
    if session.expires_in_ms is not None:
        body["expires_in_ms"] = session.expires_in_ms
    return body
