"""Uploads, downloads and the content repository config (content-repo.yaml,
authed-content-repo.yaml) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.api.conftest import SERVER_NAME
from tests.api.media_helpers import AUTHED, MEDIA, make_image, upload
from veche.protocol.media import CONTENT_SECURITY_POLICY


async def test_upload_and_download_byte_identical_with_headers(http, make_user):
    alice = await make_user("alice")
    data = make_image("image/png")
    media_id = await upload(http, alice, data, "image/png", "cat picture.png")
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert response.status == 200
        assert await response.read() == data
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Content-Length"] == str(len(data))
        assert response.headers["Content-Disposition"] == 'inline; filename="cat picture.png"'
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


async def test_download_requires_authentication(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, b"secret")
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}") as response:
        assert response.status == 401
        assert (await response.json())["errcode"] == "M_MISSING_TOKEN"


async def test_filename_in_path_replaces_uploaded_name(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, b"hello", "text/plain", "a.txt")
    url = f"{AUTHED}/download/{SERVER_NAME}/{media_id}/r%C3%A9sum%C3%A9.txt"
    async with http.get(url, headers=alice.headers) as response:
        assert response.status == 200
        assert await response.read() == b"hello"
        assert response.headers["Content-Disposition"] == "inline; filename*=utf-8''r%C3%A9sum%C3%A9.txt"


async def test_unsafe_types_are_attachments_and_no_filename_when_none_given(http, make_user):
    alice = await make_user("alice")
    media_id = await upload(http, alice, b"<script>alert(1)</script>", "text/html")
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert response.headers["Content-Type"] == "text/html"
        assert response.headers["Content-Disposition"] == "attachment"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_missing_content_type_defaults_to_octet_stream(http, make_user):
    alice = await make_user("alice")
    async with http.post(
        f"{MEDIA}/upload", data=b"\x00\x01", headers={**alice.headers, "Content-Type": ""}
    ) as response:
        media_id = (await response.json())["content_uri"].rsplit("/", 1)[1]
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"] == "attachment"


async def test_identical_uploads_are_stored_once(http, make_user, homeserver):
    alice = await make_user("alice")
    bob = await make_user("bob")
    data = b"the same bytes" * 1000
    first = await upload(http, alice, data, "text/plain")
    second = await upload(http, bob, data, "application/octet-stream", "copy.bin")
    assert first != second
    files = [p for p in (homeserver.config.data_dir / "media" / "content").rglob("*") if p.is_file()]
    assert len(files) == 1
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{second}", headers=bob.headers) as response:
        assert await response.read() == data
        assert response.headers["Content-Type"] == "application/octet-stream"


async def test_range_requests(http, make_user):
    alice = await make_user("alice")
    data = bytes(range(256)) * 40
    media_id = await upload(http, alice, data)
    url = f"{AUTHED}/download/{SERVER_NAME}/{media_id}"
    async with http.get(url, headers={**alice.headers, "Range": "bytes=100-199"}) as response:
        assert response.status == 206
        assert await response.read() == data[100:200]
        assert response.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    async with http.get(url, headers={**alice.headers, "Range": "bytes=-10"}) as response:
        assert response.status == 206
        assert await response.read() == data[-10:]
    async with http.get(url, headers={**alice.headers, "Range": f"bytes={len(data)}-"}) as response:
        assert response.status == 416


async def test_unknown_and_malformed_media_ids(http, make_user):
    alice = await make_user("alice")
    for media_id in ("doesnotexist", "..%2F..%2Fetc", "a.b"):
        async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
            assert response.status == 404
            assert (await response.json())["errcode"] == "M_NOT_FOUND"
    async with http.get(f"{AUTHED}/download/other.example/abc", headers=alice.headers) as response:
        assert response.status == 404


async def test_config_reports_upload_limit(http, make_user, homeserver):
    alice = await make_user("alice")
    for path in (f"{AUTHED}/config", f"{MEDIA}/config"):
        async with http.get(path, headers=alice.headers) as response:
            assert response.status == 200
            assert await response.json() == {"m.upload.size": homeserver.config.max_upload_size}


async def test_upload_requires_authentication(http):
    async with http.post(f"{MEDIA}/upload", data=b"x") as response:
        assert response.status == 401


async def test_legacy_download_is_frozen_for_new_media(http, make_user, homeserver):
    alice = await make_user("alice")
    data = make_image("image/jpeg", 64, 64)
    new = await upload(http, alice, data, "image/jpeg")
    async with http.get(f"{MEDIA}/download/{SERVER_NAME}/{new}") as response:
        assert response.status == 404
        assert (await response.json())["errcode"] == "M_NOT_FOUND"
    async with http.get(f"{MEDIA}/thumbnail/{SERVER_NAME}/{new}?width=32&height=32") as response:
        assert response.status == 404
    # Media from before the freeze stays reachable without authentication.
    store = homeserver.media.repository.store
    old = await store.get(SERVER_NAME, new)
    await homeserver.db.execute(
        "UPDATE media SET created_ts = ? WHERE media_id = ?", old.created_ts - 10**9, new
    )
    for version in ("v3", "r0"):
        async with http.get(f"/_matrix/media/{version}/download/{SERVER_NAME}/{new}/x.jpg") as response:
            assert response.status == 200
            assert await response.read() == data
            assert response.headers["Content-Disposition"] == 'inline; filename="x.jpg"'


async def test_too_large_upload_is_refused(http, make_user, homeserver):
    alice = await make_user("alice")
    limit = homeserver.config.max_upload_size
    async with http.post(
        f"{MEDIA}/upload", data=b"x" * (limit + 1), headers=alice.headers
    ) as response:
        assert response.status == 413
        assert (await response.json())["errcode"] == "M_TOO_LARGE"


async def test_too_large_streamed_upload_is_refused_before_the_end(http, make_user, homeserver):
    """Without a Content-Length the limit applies while streaming: the answer comes while
    the client is still sending, and nothing is left on disk."""
    alice = await make_user("alice")
    limit = homeserver.config.max_upload_size
    total = limit * 8
    sent = 0
    chunk = b"y" * 65536

    async def body():
        nonlocal sent
        while sent < total:
            sent += len(chunk)
            yield chunk
            await asyncio.sleep(0.001)

    sent_when_answered = None
    try:
        async with http.post(f"{MEDIA}/upload", data=body(), headers=alice.headers) as response:
            sent_when_answered = sent
            assert response.status == 413
            assert (await response.json())["errcode"] == "M_TOO_LARGE"
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        sent_when_answered = sent  # the server may close the connection instead of reading on
    assert sent_when_answered < total
    temporary = list((homeserver.config.data_dir / "media" / "tmp").iterdir())
    assert temporary == []


@pytest.fixture
def server_settings() -> dict[str, str]:
    # Small enough to cross cheaply in the size tests.
    return {"VECHE_MAX_UPLOAD_SIZE": "1M"}


async def test_interrupted_upload_leaves_nothing_behind(make_user, homeserver, base_url):
    alice = await make_user("alice")
    host, port = homeserver.bound["client"]
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"POST {MEDIA}/upload HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {alice.access_token}\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        + b"partial" * 100
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()
    media_root = homeserver.config.data_dir / "media"
    for _ in range(50):
        if not list((media_root / "tmp").iterdir()):
            break
        await asyncio.sleep(0.05)
    assert list((media_root / "tmp").iterdir()) == []
    assert [p for p in (media_root / "content").rglob("*") if p.is_file()] == []
