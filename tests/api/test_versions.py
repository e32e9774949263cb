"""The running server: discovery endpoints and the HTTP edge's error and CORS behaviour."""

from __future__ import annotations

import aiohttp

from veche.homeserver import HomeServer


async def test_versions(http: aiohttp.ClientSession) -> None:
    async with http.get("/_matrix/client/versions") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = await response.json()
    assert body["versions"] == [f"v1.{minor}" for minor in range(1, 20)]
    assert body["unstable_features"] == {"org.matrix.simplified_msc3575": True}


async def test_client_wellknown(http: aiohttp.ClientSession, homeserver: HomeServer) -> None:
    async with http.get("/.well-known/matrix/client") as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = await response.json()
    assert body == {"m.homeserver": {"base_url": homeserver.config.public_baseurl}}


async def test_unknown_endpoint_is_unrecognized(http: aiohttp.ClientSession) -> None:
    async with http.get("/_matrix/client/v3/no/such/endpoint") as response:
        assert response.status == 404
        assert response.content_type == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = await response.json()
    assert body["errcode"] == "M_UNRECOGNIZED"
    assert isinstance(body["error"], str)


async def test_wrong_method_is_unrecognized(http: aiohttp.ClientSession) -> None:
    async with http.post("/_matrix/client/versions", json={}) as response:
        assert response.status == 405
        body = await response.json()
    assert body["errcode"] == "M_UNRECOGNIZED"


async def test_cors_preflight(http: aiohttp.ClientSession) -> None:
    headers = {
        "Origin": "https://app.element.io",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    for path in ("/_matrix/client/versions", "/_matrix/client/v3/login"):
        async with http.options(path, headers=headers) as response:
            assert response.status in (200, 204)
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
            assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= methods
            allowed = response.headers["Access-Control-Allow-Headers"].lower()
            assert "authorization" in allowed and "content-type" in allowed


async def test_head_of_versions(http: aiohttp.ClientSession) -> None:
    async with http.head("/_matrix/client/versions") as response:
        assert response.status == 200


async def test_make_user_gives_a_working_token(homeserver: HomeServer, make_user) -> None:
    alice = await make_user("alice")
    info = await homeserver.accounts.lookup_access_token(alice.access_token)
    assert info is not None and (info.user_id, info.device_id) == (alice.user_id, alice.device_id)
    account = await homeserver.accounts.get_account(alice.user_id)
    assert account is not None and account.password_hash is not None
    assert await homeserver.passwords.verify(account.password_hash, alice.password)
