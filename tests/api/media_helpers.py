"""Real images made with Pillow, and upload/download helpers for the media API tests."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image

from tests.api.conftest import TestUser

MEDIA = "/_matrix/media/v3"
AUTHED = "/_matrix/client/v1/media"
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}


def make_image(content_type: str, width: int = 1000, height: int = 800, *, frames: int = 1) -> bytes:
    """A gradient image (so it compresses like a photo, not like a flat colour)."""
    pictures = []
    for frame in range(frames):
        gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
        # Each frame tinted differently all over, so encoders cannot merge frames.
        tint = Image.new("RGB", (width, height), (50 * frame % 256, 255 - 30 * frame % 256, 90))
        pictures.append(Image.blend(gradient, tint, 0.4))
    buffer = io.BytesIO()
    if frames > 1:
        pictures[0].save(
            buffer, PIL_FORMATS[content_type], save_all=True, append_images=pictures[1:], duration=80, loop=0
        )
    else:
        pictures[0].save(buffer, PIL_FORMATS[content_type])
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def upload(
    http: aiohttp.ClientSession,
    user: TestUser,
    data: bytes,
    content_type: str | None = "application/octet-stream",
    filename: str | None = None,
) -> str:
    """Uploads and returns the media ID (the server name is checked to be ours)."""
    headers = dict(user.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    params = {"filename": filename} if filename is not None else {}
    async with http.post(f"{MEDIA}/upload", data=data, headers=headers, params=params) as response:
        body = await response.json()
        assert response.status == 200, body
    server_name, media_id = body["content_uri"].removeprefix("mxc://").split("/")
    assert server_name == user.user_id.split(":", 1)[1]
    return media_id
