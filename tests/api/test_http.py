"""The shared HTTP helpers of api/http.py, on a small app with test-only routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from veche.api.http import (
    Authenticator,
    MatrixError,
    add_cors_headers,
    error_middleware,
    json_response,
    read_json_body,
)
from veche.storage.accounts import TokenInfo

TOKENS = {
    "good": TokenInfo(1, "@alice:veche.test", "DEV", False, None),
    "expired": TokenInfo(2, "@alice:veche.test", "DEV", False, 1),
    "guest": TokenInfo(3, "@guest:veche.test", "G", True, None),
}


async def _lookup(token: str) -> TokenInfo | None:
    return TOKENS.get(token)


def _app() -> web.Application:
    auth = Authenticator(_lookup)

    async def echo(request: web.Request) -> web.Response:
        return json_response(await read_json_body(request, max_size=1024))

    async def whoami(request: web.Request) -> web.Response:
        info = await auth.require(request)
        return json_response({"user_id": info.user_id})

    async def teapot(request: web.Request) -> web.Response:
        raise MatrixError(418, "M_TEAPOT", "short and stout", extra_key=1)

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    async def upload(request: web.Request) -> web.Response:
        return json_response({"size": len(await request.read())})

    app = web.Application(middlewares=[error_middleware])
    app.add_routes(
        [
            web.post("/echo", echo),
            web.get("/whoami", whoami),
            web.get("/teapot", teapot),
            web.get("/crash", crash),
            web.post("/upload", upload),
        ]
    )
    app.on_response_prepare.append(add_cors_headers)
    return app


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    server = TestServer(_app())
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url(""))) as session:
            yield session
    finally:
        await server.close()


async def _error(response: aiohttp.ClientResponse) -> tuple[int, dict]:
    assert response.content_type == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.status, await response.json()


async def test_json_body_round_trip(http: aiohttp.ClientSession) -> None:
    async with http.post("/echo", json={"a": [1, "é"]}) as response:
        assert response.status == 200
        assert await response.json() == {"a": [1, "é"]}


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
async def test_bad_json_body(http: aiohttp.ClientSession, body: bytes) -> None:
    async with http.post("/echo", data=body) as response:
        status, error = await _error(response)
    assert status == 400 and error["errcode"] == "M_NOT_JSON"


async def test_body_too_large(http: aiohttp.ClientSession) -> None:
    async with http.post("/echo", json={"x": "y" * 2000}) as response:
        status, error = await _error(response)
    assert status == 413 and error["errcode"] == "M_TOO_LARGE"


async def test_chunked_body_too_large(http: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"x": "'
        for _ in range(20):
            yield b"y" * 100
        yield b'"}'

    async with http.post("/echo", data=chunks()) as response:
        status, error = await _error(response)
    assert status == 413 and error["errcode"] == "M_TOO_LARGE"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_body_that_fails_its_content_encoding(http: aiohttp.ClientSession, encoding: str) -> None:
    headers = {"Content-Encoding": encoding}
    async with http.post("/upload", data=b"not compressed", headers=headers) as response:
        status, error = await _error(response)
    assert status == 400 and error["errcode"] == "M_UNKNOWN"
    async with http.post("/echo", data=b"not compressed", headers=headers) as response:
        status, error = await _error(response)
    assert status == 400 and error["errcode"] == "M_NOT_JSON"


async def test_matrix_error_with_extra_keys(http: aiohttp.ClientSession) -> None:
    async with http.get("/teapot") as response:
        status, error = await _error(response)
    assert status == 418
    assert error == {"errcode": "M_TEAPOT", "error": "short and stout", "extra_key": 1}


async def test_unexpected_exception_is_a_json_500(http: aiohttp.ClientSession, caplog) -> None:
    async with http.get("/crash") as response:
        status, error = await _error(response)
    assert status == 500 and error["errcode"] == "M_UNKNOWN"
    assert "boom" in caplog.text  # logged with its traceback


async def test_options_runs_no_endpoint_logic(http: aiohttp.ClientSession) -> None:
    async with http.options("/crash") as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_bearer_token(http: aiohttp.ClientSession) -> None:
    for scheme in ("Bearer", "bearer"):
        async with http.get("/whoami", headers={"Authorization": f"{scheme} good"}) as response:
            assert response.status == 200
            assert await response.json() == {"user_id": "@alice:veche.test"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic Z29vZA=="}, {"Authorization": "Bearer "}],
)
async def test_missing_token(http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    async with http.get("/whoami", headers=headers) as response:
        status, error = await _error(response)
    assert status == 401 and error["errcode"] == "M_MISSING_TOKEN"


async def test_query_string_token_is_not_accepted(http: aiohttp.ClientSession) -> None:
    # MSC4127 in this spec copy: only the Authorization header carries tokens.
    async with http.get("/whoami", params={"access_token": "good"}) as response:
        status, error = await _error(response)
    assert status == 401 and error["errcode"] == "M_MISSING_TOKEN"
    assert "Authorization header" in error["error"]


async def test_unknown_token(http: aiohttp.ClientSession) -> None:
    async with http.get("/whoami", headers={"Authorization": "Bearer nope"}) as response:
        status, error = await _error(response)
    assert status == 401
    assert error["errcode"] == "M_UNKNOWN_TOKEN" and error["soft_logout"] is False


async def test_expired_token_is_a_soft_logout(http: aiohttp.ClientSession) -> None:
    async with http.get("/whoami", headers={"Authorization": "Bearer expired"}) as response:
        status, error = await _error(response)
    assert status == 401
    assert error["errcode"] == "M_UNKNOWN_TOKEN" and error["soft_logout"] is True


async def test_guest_token_refused_by_default(http: aiohttp.ClientSession) -> None:
    async with http.get("/whoami", headers={"Authorization": "Bearer guest"}) as response:
        status, error = await _error(response)
    assert status == 403 and error["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"
