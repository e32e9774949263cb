"""Asynchronous uploads: POST /_matrix/media/v1/create, then
PUT /_matrix/media/v3/upload/{serverName}/{mediaId} (content-repo.yaml)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.api.conftest import SERVER_NAME
from tests.api.media_helpers import AUTHED, MEDIA, make_image
from veche.services.media.repository import MAX_PENDING_PER_USER, PENDING_LIFETIME_MS


async def create(http, user) -> str:
    async with http.post("/_matrix/media/v1/create", headers=user.headers) as response:
        body = await response.json()
        assert response.status == 200, body
    expected = int(time.time() * 1000) + PENDING_LIFETIME_MS
    assert abs(body["unused_expires_at"] - expected) < 60_000
    assert body["content_uri"].startswith(f"mxc://{SERVER_NAME}/")
    return body["content_uri"].rsplit("/", 1)[1]


async def put(http, user, media_id, data, content_type="application/octet-stream", server=SERVER_NAME):
    headers = {**user.headers, "Content-Type": content_type}
    async with http.put(f"{MEDIA}/upload/{server}/{media_id}", data=data, headers=headers, params={"filename": "f.bin"}) as response:
        return response.status, await response.json()


async def test_create_then_upload_then_download(http, make_user):
    alice = await make_user("alice")
    media_id = await create(http, alice)
    data = make_image("image/webp", 300, 300)
    assert await put(http, alice, media_id, data, "image/webp") == (200, {})
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert response.status == 200
        assert await response.read() == data
        assert response.headers["Content-Disposition"] == 'inline; filename="f.bin"'


async def test_download_waits_for_the_upload(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    media_id = await create(http, alice)

    async def fetch():
        async with http.get(
            f"{AUTHED}/download/{SERVER_NAME}/{media_id}", params={"timeout_ms": "10000"}, headers=bob.headers
        ) as response:
            return response.status, await response.read()

    waiting = asyncio.create_task(fetch())
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert (await put(http, alice, media_id, b"arrived"))[0] == 200
    assert await waiting == (200, b"arrived")


async def test_not_yet_uploaded_after_timeout(http, make_user):
    alice = await make_user("alice")
    media_id = await create(http, alice)
    for path in ("download", "thumbnail"):
        async with http.get(
            f"{AUTHED}/{path}/{SERVER_NAME}/{media_id}",
            params={"timeout_ms": "100", "width": "32", "height": "32"},
            headers=alice.headers,
        ) as response:
            assert response.status == 504
            assert (await response.json())["errcode"] == "M_NOT_YET_UPLOADED"


async def test_cannot_overwrite(http, make_user):
    alice = await make_user("alice")
    media_id = await create(http, alice)
    assert (await put(http, alice, media_id, b"first"))[0] == 200
    status, body = await put(http, alice, media_id, b"second")
    assert status == 409 and body["errcode"] == "M_CANNOT_OVERWRITE_MEDIA"
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert await response.read() == b"first"


async def test_concurrent_uploads_to_one_id_let_exactly_one_win(http, make_user, homeserver):
    alice = await make_user("alice")
    media_id = await create(http, alice)
    results = await asyncio.gather(*(put(http, alice, media_id, bytes([i]) * 1000) for i in range(4)))
    assert sorted(status for status, _ in results) == [200, 409, 409, 409]
    # The losers' bytes are not left on disk.
    media_root = homeserver.config.data_dir / "media"
    assert len([p for p in (media_root / "content").rglob("*") if p.is_file()]) == 1
    assert list((media_root / "tmp").iterdir()) == []


async def test_other_users_and_unknown_ids(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    media_id = await create(http, alice)
    status, body = await put(http, bob, media_id, b"x")
    assert status == 403 and body["errcode"] == "M_FORBIDDEN"
    status, body = await put(http, alice, "neverCreated", b"x")
    assert status == 404 and body["errcode"] == "M_NOT_FOUND"
    status, body = await put(http, alice, media_id, b"x", server="elsewhere.example")
    assert status == 404


async def test_expired_ids_are_gone(http, make_user, homeserver):
    alice = await make_user("alice")
    media_id = await create(http, alice)
    await homeserver.db.execute(
        "UPDATE media SET unused_expires_ts = ? WHERE media_id = ?", int(time.time() * 1000) - 1, media_id
    )
    status, body = await put(http, alice, media_id, b"late")
    assert status == 404 and body["errcode"] == "M_NOT_FOUND"
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert response.status == 404
    await homeserver.media.janitor.sweep()
    assert await homeserver.media.repository.store.get(SERVER_NAME, media_id) is None


async def test_pending_uploads_are_limited_per_user(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    for _ in range(MAX_PENDING_PER_USER):
        await create(http, alice)
    async with http.post("/_matrix/media/v1/create", headers=alice.headers) as response:
        assert response.status == 429
        assert (await response.json())["errcode"] == "M_LIMIT_EXCEEDED"
    await create(http, bob)


async def test_too_large_put_is_refused(http, make_user, homeserver):
    alice = await make_user("alice")
    media_id = await create(http, alice)
    status, body = await put(http, alice, media_id, b"z" * (homeserver.config.max_upload_size + 1))
    assert status == 413 and body["errcode"] == "M_TOO_LARGE"
    # The ID stays usable for a proper upload.
    assert (await put(http, alice, media_id, b"small"))[0] == 200


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_MAX_UPLOAD_SIZE": "256K"}
