"""Media through matrix-nio (PyPI `matrix-nio`): Alice uploads an image and a file with
nio's `upload`, sends them as m.image and m.file; Bob sees them in /sync, downloads both
byte-identical with nio's `download` (the authenticated /_matrix/client/v1/media paths)
and fetches a thumbnail with nio's `thumbnail`."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from tests.interop.test_nio import sync_until, timeline

nio = pytest.importorskip("nio")


@pytest.fixture
async def clients(base_url: str, tmp_path) -> AsyncIterator[tuple[nio.AsyncClient, nio.AsyncClient]]:
    made = []
    for name in ("alice", "bob"):
        client = nio.AsyncClient(base_url, store_path=str(tmp_path))
        response = await client.register(name, f"{name} password", device_name=f"{name}'s nio")
        assert isinstance(response, nio.RegisterResponse), response
        made.append(client)
    try:
        yield made[0], made[1]
    finally:
        for client in made:
            await client.close()


def photo() -> bytes:
    picture = Image.linear_gradient("L").resize((800, 600)).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def upload(client: nio.AsyncClient, data: bytes, content_type: str, filename: str) -> str:
    response, decryption = await client.upload(
        io.BytesIO(data), content_type=content_type, filename=filename, filesize=len(data)
    )
    assert isinstance(response, nio.UploadResponse), response
    assert decryption is None
    return response.content_uri


async def test_image_and_file_shared_between_nio_clients(clients):
    alice, bob = clients
    image = photo()
    document = b"%PDF-1.4\n" + bytes(range(256)) * 300

    created = await alice.room_create(name="Pictures", invite=[bob.user_id])
    assert isinstance(created, nio.RoomCreateResponse), created
    room_id = created.room_id
    await sync_until(bob, lambda r: room_id in r.rooms.invite)
    assert isinstance(await bob.join(room_id), nio.JoinResponse)
    await sync_until(alice, lambda r: room_id in r.rooms.join)

    image_uri = await upload(alice, image, "image/jpeg", "sunset.jpg")
    file_uri = await upload(alice, document, "application/pdf", "report.pdf")
    for content in (
        {"msgtype": "m.image", "body": "sunset.jpg", "url": image_uri,
         "info": {"mimetype": "image/jpeg", "size": len(image), "w": 800, "h": 600}},
        {"msgtype": "m.file", "body": "report.pdf", "url": file_uri,
         "info": {"mimetype": "application/pdf", "size": len(document)}},
    ):
        sent = await alice.room_send(room_id, "m.room.message", content)
        assert isinstance(sent, nio.RoomSendResponse), sent

    seen: dict[str, object] = {}

    def got_both(response) -> bool:
        for event in timeline(response, room_id):
            if isinstance(event, (nio.RoomMessageImage, nio.RoomMessageFile)):
                seen[type(event).__name__] = event
        return len(seen) == 2

    await sync_until(bob, got_both)
    image_event, file_event = seen["RoomMessageImage"], seen["RoomMessageFile"]
    assert image_event.url == image_uri and file_event.url == file_uri

    downloaded = await bob.download(mxc=image_event.url)
    assert isinstance(downloaded, nio.MemoryDownloadResponse), downloaded
    assert downloaded.body == image
    assert downloaded.content_type == "image/jpeg"
    assert downloaded.filename == "sunset.jpg"

    downloaded = await bob.download(mxc=file_event.url, filename="renamed.pdf")
    assert isinstance(downloaded, nio.MemoryDownloadResponse), downloaded
    assert downloaded.body == document
    assert downloaded.content_type == "application/pdf"
    assert downloaded.filename == "renamed.pdf"

    server_name, media_id = image_event.url.removeprefix("mxc://").split("/")
    thumbnail = await bob.thumbnail(server_name, media_id, 96, 96, nio.ResizingMethod.crop)
    assert isinstance(thumbnail, nio.ThumbnailResponse), thumbnail
    assert thumbnail.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.body)).size == (96, 96)

    scaled = await bob.thumbnail(server_name, media_id, 320, 240, nio.ResizingMethod.scale)
    assert isinstance(scaled, nio.ThumbnailResponse), scaled
    assert Image.open(io.BytesIO(scaled.body)).size == (320, 240)

    missing = await bob.download(mxc=f"mxc://{server_name}/doesNotExist")
    assert isinstance(missing, nio.DownloadError)
