"""URL previews (GET /_matrix/client/v1/media/preview_url): Open Graph and plain HTML
pages, images, caching, limits, and the refusal of internal addresses (SSRF)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiohttp import web

from tests.api.conftest import SERVER_NAME
from tests.api.media_helpers import AUTHED, MEDIA, decode, make_image
from veche.services.media import previews

OG_PAGE = """<!doctype html><html><head>
<meta charset="utf-8">
<title>Fallback title</title>
<meta property="og:title" content="Tea &amp; biscuits">
<meta property="og:description" content="A   guide to   dunking.">
<meta property="og:image" content="/images/tea.png">
<meta property="og:image:width" content="9999">
</head><body><p>hi</p></body></html>"""

PLAIN_PAGE = """<html><head><title> Plain
page </title><script>var title = "<title>no</title>";</script>
<meta name="description" content="Only the basics"></head>
<body><img src="pic.jpg"><img src="second.jpg"></body></html>"""


@pytest.fixture
async def site():
    """A web server on loopback; `site.hits` counts requests per path."""
    hits: Counter[str] = Counter()
    jpeg = make_image("image/jpeg", 640, 480)

    @web.middleware
    async def count(request, handler):
        hits[request.path] += 1
        return await handler(request)

    async def page(request):
        return web.Response(text=OG_PAGE, content_type="text/html")

    async def plain(request):
        return web.Response(text=PLAIN_PAGE, content_type="text/html")

    async def png(request):
        return web.Response(body=make_image("image/png", 300, 200), content_type="image/png")

    async def picture(request):
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def redirect(request):
        raise web.HTTPFound("/page")

    async def to_link_local(request):
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def huge(request):
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        await response.write(OG_PAGE.encode())
        for _ in range(64):  # 4 MiB of filler after the head
            await response.write(b"<p>" + b"x" * 65536 + b"</p>")
        return response

    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text=OG_PAGE, content_type="text/html")

    app = web.Application(middlewares=[count])
    app.add_routes(
        [
            web.get("/page", page),
            web.get("/plain/index.html", plain),
            web.get("/plain/pic.jpg", picture),
            web.get("/images/tea.png", png),
            web.get("/photo.jpg", picture),
            web.get("/redirect", redirect),
            web.get("/to-link-local", to_link_local),
            web.get("/huge", huge),
            web.get("/slow", slow),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    try:
        yield type("Site", (), {"url": f"http://127.0.0.1:{port}", "port": port, "hits": hits})
    finally:
        await runner.cleanup()


async def preview(http, user, url, prefix=AUTHED):
    async with http.get(f"{prefix}/preview_url", params={"url": url}, headers=user.headers) as response:
        return response.status, await response.json()


async def download(http, user, mxc):
    media_id = mxc.rsplit("/", 1)[1]
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=user.headers) as response:
        assert response.status == 200
        return await response.read()


async def test_previews_are_off_by_default(http, make_user):
    alice = await make_user("alice")
    status, body = await preview(http, alice, "https://example.org/")
    assert status == 403 and body["errcode"] == "M_FORBIDDEN"


class TestEnabledWithLoopbackAllowed:
    @pytest.fixture
    def server_settings(self):
        return {"VECHE_URL_PREVIEWS": "on", "VECHE_URL_PREVIEW_ALLOWED_RANGES": "127.0.0.1/32"}

    async def test_open_graph_page_with_image(self, http, make_user, site):
        alice = await make_user("alice")
        status, og = await preview(http, alice, f"{site.url}/page")
        assert status == 200, og
        image = og.pop("og:image")
        assert image.startswith(f"mxc://{SERVER_NAME}/")
        assert og == {
            "og:title": "Tea & biscuits",
            "og:description": "A guide to dunking.",
            "og:image:type": "image/png",
            "og:image:width": 300,
            "og:image:height": 200,
            "matrix:image:size": len(await download(http, alice, image)),
        }
        assert decode(await download(http, alice, image)).size == (300, 200)

    async def test_plain_html_falls_back_to_title_description_and_first_image(self, http, make_user, site):
        alice = await make_user("alice")
        status, og = await preview(http, alice, f"{site.url}/plain/index.html")
        assert status == 200
        assert og["og:title"] == "Plain page"
        assert og["og:description"] == "Only the basics"
        assert og["og:image:type"] == "image/jpeg"
        assert (og["og:image:width"], og["og:image:height"]) == (640, 480)
        assert site.hits["/plain/pic.jpg"] == 1

    async def test_link_to_an_image(self, http, make_user, site):
        alice = await make_user("alice")
        status, og = await preview(http, alice, f"{site.url}/photo.jpg")
        assert status == 200
        assert og["og:image:type"] == "image/jpeg"
        assert decode(await download(http, alice, og["og:image"])).size == (640, 480)

    async def test_previews_are_cached(self, http, make_user, site):
        alice = await make_user("alice")
        first = await preview(http, alice, f"{site.url}/page")
        second = await preview(http, alice, f"{site.url}/page", prefix=MEDIA)
        assert first == second
        assert site.hits["/page"] == 1

    async def test_redirects_are_followed(self, http, make_user, site):
        alice = await make_user("alice")
        status, og = await preview(http, alice, f"{site.url}/redirect")
        assert status == 200 and og["og:title"] == "Tea & biscuits"

    async def test_redirect_to_an_internal_address_is_refused(self, http, make_user, site):
        alice = await make_user("alice")
        status, body = await preview(http, alice, f"{site.url}/to-link-local")
        assert status == 403 and body["errcode"] == "M_FORBIDDEN"

    async def test_only_the_head_of_a_huge_page_is_read(self, http, make_user, site):
        alice = await make_user("alice")
        status, og = await preview(http, alice, f"{site.url}/huge")
        assert status == 200 and og["og:title"] == "Tea & biscuits"

    async def test_slow_sites_time_out(self, http, make_user, site, monkeypatch):
        monkeypatch.setattr(previews, "FETCH_TIMEOUT_SECONDS", 0.5)
        alice = await make_user("alice")
        status, body = await preview(http, alice, f"{site.url}/slow")
        assert status == 502

    async def test_bad_urls(self, http, make_user, site):
        alice = await make_user("alice")
        for url in ("ftp://example.org/", "not a url", "file:///etc/passwd"):
            status, body = await preview(http, alice, url)
            assert status == 400, url
        async with http.get(f"{AUTHED}/preview_url", headers=alice.headers) as response:
            assert response.status == 400
        async with http.get(f"{AUTHED}/preview_url", params={"url": f"{site.url}/page"}) as response:
            assert response.status == 401


class TestInternalAddressesRefused:
    @pytest.fixture
    def server_settings(self):
        return {"VECHE_URL_PREVIEWS": "on"}

    async def test_loopback_private_and_link_local_are_refused(self, http, make_user, site):
        alice = await make_user("alice")
        for url in (
            f"{site.url}/page",
            f"http://localhost:{site.port}/page",
            f"http://[::1]:{site.port}/page",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ):
            status, body = await preview(http, alice, url)
            assert status == 403, (url, body)
            assert body["errcode"] == "M_FORBIDDEN"
        assert site.hits["/page"] == 0
