"""Thumbnails of real JPEG, PNG, GIF and WebP images (content_repo.md, "Thumbnails"), and
media that is truncated, corrupt, oversized or mislabelled."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from tests.api.conftest import SERVER_NAME
from tests.api.media_helpers import AUTHED, decode, make_image, upload

FORMATS = ["image/jpeg", "image/png", "image/gif", "image/webp"]


async def thumbnail(http, user, media_id, width, height, method=None, animated=None):
    params = {"width": str(width), "height": str(height)}
    if method:
        params["method"] = method
    if animated is not None:
        params["animated"] = "true" if animated else "false"
    async with http.get(f"{AUTHED}/thumbnail/{SERVER_NAME}/{media_id}", params=params, headers=user.headers) as response:
        return response.status, response.headers, await response.read()


@pytest.mark.parametrize("content_type", FORMATS)
async def test_scale_and_crop_of_each_format(http, make_user, content_type):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image(content_type, 1000, 500), content_type)

    status, headers, body = await thumbnail(http, alice, media_id, 320, 240, "scale")
    assert status == 200, body
    image = decode(body)
    # Fits the box, keeps the 2:1 aspect, and reaches the box along one side.
    assert image.size == (320, 160)
    assert headers["Content-Type"] == ("image/jpeg" if content_type == "image/jpeg" else "image/png")
    assert headers["Content-Disposition"].startswith('inline; filename="thumbnail.')

    status, headers, body = await thumbnail(http, alice, media_id, 96, 96, "crop")
    assert status == 200
    assert decode(body).size == (96, 96)


async def test_uncommon_sizes_are_made_on_demand_and_cached(http, make_user, homeserver):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image("image/png", 1200, 900), "image/png")
    await homeserver.media.repository.wait_for_background_work()
    # The common sizes are made right after the upload.
    thumbnails_root = homeserver.config.data_dir / "media" / "thumbnails"
    made = sorted(p.name for p in thumbnails_root.rglob("*") if p.is_file())
    assert made == ["320x240-scale", "32x32-crop", "640x480-scale", "800x600-scale", "96x96-crop"]

    status, _, body = await thumbnail(http, alice, media_id, 1000, 700, "scale")
    assert status == 200
    assert decode(body).size == (933, 700)
    status, _, again = await thumbnail(http, alice, media_id, 1000, 700, "scale")
    assert again == body
    assert len([p for p in thumbnails_root.rglob("*") if p.is_file()]) == 6


async def test_requests_round_up_to_a_common_size_never_below_the_request(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image("image/jpeg", 2000, 2000), "image/jpeg")
    status, _, body = await thumbnail(http, alice, media_id, 50, 40, "crop")
    assert status == 200
    assert decode(body).size == (96, 96)


async def test_image_smaller_than_request_is_returned_as_is(http, make_user):
    alice = await make_user("alice")
    data = make_image("image/png", 100, 80)
    media_id = await upload(http, alice, data, "image/png")
    status, headers, body = await thumbnail(http, alice, media_id, 320, 240, "scale")
    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "image/png"


async def test_crop_never_upscales(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image("image/png", 50, 400), "image/png")
    status, _, body = await thumbnail(http, alice, media_id, 96, 96, "crop")
    assert status == 200
    assert decode(body).size == (50, 50)


@pytest.mark.parametrize("content_type", ["image/gif", "image/webp"])
async def test_animated_thumbnails_only_when_asked(http, make_user, content_type):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image(content_type, 400, 300, frames=5), content_type)

    status, headers, body = await thumbnail(http, alice, media_id, 96, 96, "crop", animated=True)
    assert status == 200
    assert headers["Content-Type"] == "image/webp"
    image = Image.open(io.BytesIO(body))
    assert image.size == (96, 96) and image.n_frames == 5

    for animated in (False, None):
        status, headers, body = await thumbnail(http, alice, media_id, 96, 96, "crop", animated=animated)
        assert status == 200
        assert headers["Content-Type"] == "image/png"
        assert not getattr(Image.open(io.BytesIO(body)), "is_animated", False)


async def test_small_animation_without_animated_gets_a_still_not_the_original(http, make_user):
    alice = await make_user("alice")
    data = make_image("image/gif", 60, 40, frames=3)
    media_id = await upload(http, alice, data, "image/gif")
    status, headers, body = await thumbnail(http, alice, media_id, 320, 240, "scale")
    assert status == 200
    assert body != data and headers["Content-Type"] == "image/png"
    assert decode(body).size == (60, 40)
    status, headers, body = await thumbnail(http, alice, media_id, 320, 240, "scale", animated=True)
    assert body == data and headers["Content-Type"] == "image/gif"


async def test_animated_true_on_a_still_image_behaves_as_false(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image("image/jpeg", 500, 500), "image/jpeg")
    status, headers, _ = await thumbnail(http, alice, media_id, 96, 96, "crop", animated=True)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"


async def test_thumbnail_parameters_are_checked(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image("image/png", 200, 200), "image/png")
    for params in ({"width": "x", "height": "5"}, {"width": "-1", "height": "5"}, {"height": "5"}):
        async with http.get(
            f"{AUTHED}/thumbnail/{SERVER_NAME}/{media_id}", params=params, headers=alice.headers
        ) as response:
            assert response.status == 400
    status, _, _ = await thumbnail(http, alice, media_id, 32, 32, "stretch")
    assert status == 400


async def test_thumbnail_requires_authentication(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image("image/png", 200, 200), "image/png")
    async with http.get(f"{AUTHED}/thumbnail/{SERVER_NAME}/{media_id}?width=32&height=32") as response:
        assert response.status == 401


# Bad media: the upload succeeds as a plain file and thumbnails are refused clearly.


async def test_non_image_cannot_be_thumbnailed(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, b"%PDF-1.4 not an image", "application/pdf")
    status, _, body = await thumbnail(http, alice, media_id, 32, 32, "crop")
    assert status == 400


@pytest.mark.parametrize("content_type", FORMATS)
async def test_truncated_image_uploads_but_does_not_thumbnail(http, make_user, content_type):
    alice = await make_user("alice")
    data = make_image(content_type, 800, 600)
    truncated = data[: len(data) // 3]
    media_id = await upload(http, alice, truncated, content_type)
    status, _, _ = await thumbnail(http, alice, media_id, 96, 96, "crop")
    assert status == 400
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert response.status == 200 and await response.read() == truncated


async def test_corrupt_image_data(http, make_user):
    alice = await make_user("alice")
    data = bytearray(make_image("image/png", 400, 400))
    data[200:260] = b"\xff" * 60
    media_id = await upload(http, alice, bytes(data), "image/png")
    status, _, _ = await thumbnail(http, alice, media_id, 96, 96, "crop")
    assert status == 400


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims huge dimensions: a decompression bomb's signature."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 60_000])
async def test_huge_dimensions_are_refused_as_too_large(http, make_user, side):
    alice = await make_user("alice")
    media_id = await upload(http, alice, _png_claiming(side, side), "image/png")
    status, _, body = await thumbnail(http, alice, media_id, 96, 96, "crop")
    assert status == 413, body


async def test_real_decompression_bomb(http, make_user):
    """A 12000×12000 image that compresses to a few hundred kilobytes."""
    alice = await make_user("alice")
    buffer = io.BytesIO()
    Image.new("L", (12_000, 12_000)).save(buffer, "PNG")
    media_id = await upload(http, alice, buffer.getvalue(), "image/png")
    status, _, _ = await thumbnail(http, alice, media_id, 96, 96, "crop")
    assert status == 413


async def test_mislabelled_types(http, make_user):
    alice = await make_user("alice")
    # Bytes that are no image, labelled as one, are served as what they obviously are.
    fake = await upload(http, alice, b"\x00encrypted bytes\x00" * 10, "image/png")
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{fake}", headers=alice.headers) as response:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"] == "attachment"
    status, _, _ = await thumbnail(http, alice, fake, 32, 32, "crop")
    assert status == 400
    # A real image under another image type keeps its label but thumbnails by its content.
    jpeg = await upload(http, alice, make_image("image/jpeg", 400, 400), "image/png")
    status, headers, body = await thumbnail(http, alice, jpeg, 96, 96, "crop")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    # An image uploaded without an image type still gets thumbnails.
    plain = await upload(http, alice, make_image("image/webp", 400, 400), "application/octet-stream")
    status, _, _ = await thumbnail(http, alice, plain, 96, 96, "crop")
    assert status == 200


async def test_exif_rotation_is_applied(http, make_user):
    alice = await make_user("alice")
    picture = Image.new("RGB", (400, 200), (0, 128, 255))
    exif = picture.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif)
    media_id = await upload(http, alice, buffer.getvalue(), "image/jpeg")
    status, _, body = await thumbnail(http, alice, media_id, 100, 100, "scale")
    assert status == 200
    # Portrait once turned: 200×400 fitted into the 320×240 common size.
    assert decode(body).size == (120, 240)
