"""Query parameters of the media endpoints."""

from __future__ import annotations

from aiohttp import web

from veche.errors import invalid_param, missing_param
from veche.protocol.media import THUMBNAIL_METHODS, ThumbnailSize


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


def thumbnail_query(request: web.Request) -> tuple[ThumbnailSize, bool]:
    """The requested size and method, and whether an animation is wanted."""
    width = int_param(request, "width", required=True)
    height = int_param(request, "height", required=True)
    # The spec gives `method` no default; `scale` is what other servers assume.
    method = request.query.get("method", "scale")
    if width is None or height is None or width < 1 or height < 1:
        raise invalid_param("width and height must be positive integers")
    if method not in THUMBNAIL_METHODS:
        raise invalid_param("method must be crop or scale")
    return ThumbnailSize(width, height, method), bool_param(request, "animated") is True
