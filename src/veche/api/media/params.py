"""Query parameters of the media endpoints."""

from __future__ import annotations

from aiohttp import web

from veche.errors import invalid_param, missing_param


def int_param(request: web.Request, name: str, *, required: bool = False) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise missing_param(f"Missing query parameter {name}")
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid_param(f"{name} must be an integer") from None


def bool_param(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw in ("true", "false"):
        return raw == "true"
    raise invalid_param(f"{name} must be true or false")
