"""Remote media across two Veche servers: a user on A downloads media uploaded on B (and
thumbnails of it) through A's authenticated media API, which fetches it once over
/_matrix/federation/v1/media/download and caches it; and peers that answer with a
Location instead of the bytes, or know only the deprecated endpoint."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from veche.homeserver import HomeServer
from veche.services.federation.tls import server_ssl_context
from tests.api.conftest import TestUser
from tests.api.media_helpers import AUTHED, decode, make_image, upload

from .conftest import Certificate, free_port
from .query_helpers import federation_call, impostor_key, make_user

FEDERATION_MEDIA = "/_matrix/federation/v1/media"


async def _get(hs: HomeServer, user: TestUser, path: str) -> tuple[int, dict[str, str], bytes]:
    host, port = hs.bound["client"]
    async with aiohttp.ClientSession(base_url=f"http://{host}:{port}") as http:
        async with http.get(path, headers=user.headers) as response:
            return response.status, dict(response.headers), await response.read()


async def _upload_on(hs: HomeServer, user: TestUser, data: bytes, content_type: str, filename: str | None = None) -> str:
    host, port = hs.bound["client"]
    async with aiohttp.ClientSession(base_url=f"http://{host}:{port}") as http:
        return await upload(http, user, data, content_type, filename)


async def test_download_and_thumbnail_remote_media(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = await make_user(a, "alice"), await make_user(b, "bob")
    data = os.urandom(700_000)
    file_id = await _upload_on(b, bob, data, "application/pdf", "report ü.pdf")
    image = make_image("image/png", 640, 480)
    image_id = await _upload_on(b, bob, image, "image/png", "photo.png")
    origin = quote(b.server_name)

    status, headers, body = await _get(a, alice, f"{AUTHED}/download/{origin}/{file_id}")
    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "application/pdf"
    assert "report" in headers["Content-Disposition"]
    cached = await a.media.repository.store.get(b.server_name, file_id)
    assert cached is not None and cached.size == len(data) and cached.user_id is None

    # Served from the cache from now on, also under the name it was asked for.
    status, headers, body = await _get(a, alice, f"{AUTHED}/download/{origin}/{file_id}/other.pdf")
    assert (status, body) == (200, data)

    status, headers, body = await _get(a, alice, f"{AUTHED}/thumbnail/{origin}/{image_id}?width=64&height=64&method=scale")
    assert status == 200, body
    thumbnail = decode(body)
    assert max(thumbnail.size) < 640 and thumbnail.size[0] >= 64
    status, _, body = await _get(a, alice, f"{AUTHED}/download/{origin}/{image_id}")
    assert (status, body) == (200, image)

    status, _, body = await _get(a, alice, f"{AUTHED}/download/{origin}/NoSuchMedia")
    assert status == 404, body
    # The legacy endpoints are frozen, so they never fetch remote media.
    status, _, _ = await _get(a, alice, f"/_matrix/media/v3/download/{origin}/{image_id}")
    assert status == 404


async def test_media_download_served(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    status, answer = await federation_call(a, b, "GET", f"{FEDERATION_MEDIA}/download/NoSuchMedia", certificate)
    assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
    bob = await make_user(b, "bob")
    media_id = await _upload_on(b, bob, b"hello", "text/plain")
    status, answer = await federation_call(
        a, b, "GET", f"{FEDERATION_MEDIA}/download/{media_id}", certificate, key=impostor_key(a)
    )
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")


@pytest.fixture
async def odd_peer(certificate: Certificate) -> AsyncIterator[tuple[str, bytes]]:
    """A TLS 'server' whose media `far` is behind a Location and whose media `old` is
    only on the deprecated endpoint; yields its name and the bytes of both."""
    data = os.urandom(50_000)
    files = web.Application()

    async def file(request: web.Request) -> web.Response:
        return web.Response(
            body=data, content_type="image/x-test", headers={"Content-Disposition": 'attachment; filename="far.bin"'}
        )

    files.router.add_get("/files/blob", file)
    files_port = free_port()
    peer = web.Application()

    async def download(request: web.Request) -> web.Response:
        if request.match_info["media_id"] == "old":
            return web.json_response({"errcode": "M_UNRECOGNIZED", "error": "?"}, status=404)
        if request.match_info["media_id"] != "far":
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "no"}, status=404)
        boundary = secrets.token_hex(8)
        body = (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n"
            f"--{boundary}\r\nLocation: http://127.0.0.1:{files_port}/files/blob\r\n\r\n\r\n"
            f"--{boundary}--\r\n"
        )
        return web.Response(body=body.encode(), headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})

    async def legacy_download(request: web.Request) -> web.Response:
        assert request.query["allow_remote"] == "false"
        if request.match_info["media_id"] != "old":
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "no"}, status=404)
        return web.Response(body=data, content_type="application/x-old")

    peer.router.add_get(FEDERATION_MEDIA + "/download/{media_id}", download)
    peer.router.add_get("/_matrix/media/v3/download/{server_name}/{media_id}", legacy_download)
    runners = []
    try:
        port = free_port()
        for app, site_port, tls in ((files, files_port, False), (peer, port, True)):
            runner = web.AppRunner(app)
            await runner.setup()
            runners.append(runner)
            ssl_context = server_ssl_context(certificate.cert, certificate.key) if tls else None
            await web.TCPSite(runner, "127.0.0.1", site_port, ssl_context=ssl_context).start()
        yield f"127.0.0.1:{port}", data
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_media_behind_a_location_or_the_deprecated_endpoint(
    servers: tuple[HomeServer, HomeServer], odd_peer: tuple[str, bytes]
) -> None:
    a, _ = servers
    peer, data = odd_peer
    alice = await make_user(a, "alice")
    status, headers, body = await _get(a, alice, f"{AUTHED}/download/{quote(peer)}/far")
    assert (status, body) == (200, data)
    assert headers["Content-Type"] == "image/x-test"
    assert "far.bin" in headers["Content-Disposition"]
    status, _, _ = await _get(a, alice, f"{AUTHED}/download/{quote(peer)}/near")
    assert status == 404
    status, headers, body = await _get(a, alice, f"{AUTHED}/download/{quote(peer)}/old")
    assert (status, body, headers["Content-Type"]) == (200, data, "application/x-old")


@pytest.mark.parametrize("extra_settings", [{"VECHE_FREEZE_UNAUTHENTICATED_MEDIA": "off"}])
async def test_unfrozen_legacy_endpoints_fetch_unless_told_not_to(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = await make_user(a, "alice"), await make_user(b, "bob")
    media_id = await _upload_on(b, bob, b"legacy bytes", "text/plain")
    origin = quote(b.server_name)
    status, _, _ = await _get(a, alice, f"/_matrix/media/v3/download/{origin}/{media_id}?allow_remote=false")
    assert status == 404
    status, _, body = await _get(a, alice, f"/_matrix/media/v3/download/{origin}/{media_id}")
    assert (status, body) == (200, b"legacy bytes")
    # Once cached, it is this server's to serve, whatever allow_remote says.
    status, _, body = await _get(a, alice, f"/_matrix/media/v3/download/{origin}/{media_id}?allow_remote=false")
    assert (status, body) == (200, b"legacy bytes")
