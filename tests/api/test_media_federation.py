"""Serving this server's media to other servers (server-server content_repository.yaml):
two Veche servers over TLS on loopback; one fetches the other's media with a signed
request and reads the two-part multipart/mixed answer."""

from __future__ import annotations

import aiohttp

from tests.api.media_helpers import decode, make_image
from tests.federation.conftest import certificate, extra_settings, servers  # noqa: F401 (fixtures)
from veche.homeserver import HomeServer
from veche.protocol.x_matrix import sign_request
from veche.services.federation.tls import federation_client_ssl_context

MEDIA = "/_matrix/federation/v1/media"


async def chunks(data: bytes):
    yield data


async def upload_on(hs: HomeServer, data: bytes, content_type: str, filename: str | None) -> str:
    uri = await hs.media.repository.upload(
        f"@alice:{hs.server_name}", chunks(data), content_length=len(data), content_type=content_type, filename=filename
    )
    return uri.rsplit("/", 1)[1]


async def fetch(origin: HomeServer, target: HomeServer, certificate, uri: str, *, signed: bool = True):
    """(status, parts as (headers, body), or the JSON error) of a request from `origin`."""
    host, port = target.bound["federation"]
    headers = {}
    if signed:
        headers["Authorization"] = sign_request(origin.signing_key, "GET", uri, origin.server_name, target.server_name)
    ssl_context = federation_client_ssl_context(ca_files=[certificate.cert])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"https://{host}:{port}{uri}", headers=headers, ssl=ssl_context) as response:
            if response.status != 200:
                return response.status, await response.json()
            assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=")
            reader = aiohttp.MultipartReader.from_response(response)
            parts = []
            while (part := await reader.next()) is not None:
                parts.append((dict(part.headers), await part.read()))
            return response.status, parts


async def test_download_as_multipart(servers, certificate):
    a, b = servers
    data = b"%PDF-1.4 " + bytes(range(256)) * 1000
    media_id = await upload_on(b, data, "application/pdf", "report.pdf")
    status, parts = await fetch(a, b, certificate, f"{MEDIA}/download/{media_id}")
    assert status == 200
    (meta_headers, meta), (headers, body) = parts
    assert meta_headers["Content-Type"] == "application/json" and meta == b"{}"
    assert body == data
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == 'attachment; filename="report.pdf"'


async def test_thumbnail_as_multipart(servers, certificate):
    a, b = servers
    media_id = await upload_on(b, make_image("image/png", 800, 600), "image/png", None)
    status, parts = await fetch(a, b, certificate, f"{MEDIA}/thumbnail/{media_id}?width=96&height=96&method=crop")
    assert status == 200
    headers, body = parts[1]
    assert headers["Content-Type"] == "image/png"
    assert decode(body).size == (96, 96)


async def test_unsigned_and_unknown_requests(servers, certificate):
    a, b = servers
    media_id = await upload_on(b, b"private", "text/plain", None)
    status, body = await fetch(a, b, certificate, f"{MEDIA}/download/{media_id}", signed=False)
    assert status == 401 and body["errcode"] == "M_UNAUTHORIZED"
    status, body = await fetch(a, b, certificate, f"{MEDIA}/download/unknownMedia")
    assert status == 404 and body["errcode"] == "M_NOT_FOUND"

