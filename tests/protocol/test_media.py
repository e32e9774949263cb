"""The content repository's pure rules (protocol/media.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from veche.protocol.media import (
    ThumbnailSize,
    content_disposition,
    effective_request,
    is_valid_media_id,
    sniff_image_type,
    stored_content_type,
    thumbnail_dimensions,
)

sides = st.integers(min_value=1, max_value=20_000)


@given(sides, sides, sides, sides, st.sampled_from(["crop", "scale"]))
def test_thumbnails_never_upscale_and_never_exceed_the_box(width, height, box_w, box_h, method):
    size = thumbnail_dimensions(width, height, ThumbnailSize(box_w, box_h, method))
    if width <= box_w and height <= box_h:
        assert size is None  # the original is served
        return
    assert size is not None
    w, h = size
    assert 1 <= w <= width and 1 <= h <= height
    assert w <= box_w and h <= box_h
    if method == "crop" and width >= box_w and height >= box_h:
        assert size == (box_w, box_h)
    if method == "scale":
        # Reaches the box along one side (content_repo.md: one side smaller than asked).
        assert w == box_w or h == box_h


def test_scale_keeps_the_aspect():
    assert thumbnail_dimensions(1000, 500, ThumbnailSize(320, 240, "scale")) == (320, 160)
    assert thumbnail_dimensions(500, 1000, ThumbnailSize(320, 240, "scale")) == (120, 240)


def test_requests_use_the_smallest_common_size_that_covers_them():
    assert effective_request(50, 40, "crop") == ThumbnailSize(96, 96, "crop")
    assert effective_request(20, 20, "crop") == ThumbnailSize(32, 32, "crop")
    assert effective_request(600, 400, "scale") == ThumbnailSize(640, 480, "scale")
    assert effective_request(1000, 10, "scale") == ThumbnailSize(1000, 10, "scale")


def test_media_ids_are_restricted_to_a_safe_alphabet():
    assert is_valid_media_id("AQwafuaFswefuhsfAFAgsw_-9")
    for bad in ("", "../etc", "a/b", "a.b", "%2e", "é", "a" * 256):
        assert not is_valid_media_id(bad)


def test_content_disposition():
    assert content_disposition("image/png", None) == "inline"
    assert content_disposition("text/plain; charset=utf-8", "a.txt") == 'inline; filename="a.txt"'
    assert content_disposition("text/html", "x.html") == 'attachment; filename="x.html"'
    assert content_disposition("image/svg+xml", None) == "attachment"
    assert content_disposition("application/pdf", 'we"ird\\.pdf') == 'attachment; filename="we\\"ird\\\\.pdf"'
    assert content_disposition("image/jpeg", "фото.jpg") == "inline; filename*=utf-8''%D1%84%D0%BE%D1%82%D0%BE.jpg"
    assert content_disposition("image/jpeg", "a\r\nb.jpg").startswith("inline; filename*=utf-8''a%0D%0Ab")


def test_sniffing_and_the_stored_type():
    assert sniff_image_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image_type(b"GIF89a") == "image/gif"
    assert sniff_image_type(b"%PDF") is None
    assert stored_content_type(None, b"") == "application/octet-stream"
    assert stored_content_type("image/png", b"\x00garbage") == "application/octet-stream"
    assert stored_content_type("image/png", b"\xff\xd8\xff\xe0") == "image/png"
    assert stored_content_type("image/svg+xml", b"<svg") == "image/svg+xml"
