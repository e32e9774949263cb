"""OpenID tokens (modules/openid.md): requested on the client API, exchanged for the user's
ID on the federation API's /openid/userinfo."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from veche.api.app import build_app
from veche.homeserver import HomeServer
from veche.storage.openid_tokens import OpenIdTokenStore

USERINFO = "/_matrix/federation/v1/openid/userinfo"


def request_token_path(user_id: str) -> str:
    return f"/_matrix/client/v3/user/{user_id}/openid/request_token"


@pytest.fixture
async def federation(homeserver: HomeServer) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(homeserver, ["federation"]))) as client:
        yield client


async def test_token_is_exchanged_for_the_user_id(http: aiohttp.ClientSession, make_user, federation, homeserver):
    alice = await make_user("alice")
    async with http.post(request_token_path(alice.user_id), json={}, headers=alice.headers) as response:
        assert response.status == 200
        body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["matrix_server_name"] == homeserver.server_name
    assert body["expires_in"] == 3600
    response = await federation.get(USERINFO, params={"access_token": body["access_token"]})
    assert response.status == 200
    assert await response.json() == {"sub": alice.user_id}


async def test_openid_token_is_not_an_access_token(http: aiohttp.ClientSession, make_user):
    alice = await make_user("alice")
    async with http.post(request_token_path(alice.user_id), json={}, headers=alice.headers) as response:
        token = (await response.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get("/_matrix/client/v3/account/whoami", headers=headers) as response:
        assert response.status == 401
    async with http.post(request_token_path(alice.user_id), json={}, headers=headers) as response:
        assert response.status == 401


async def test_only_for_yourself(http: aiohttp.ClientSession, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    async with http.post(request_token_path(bob.user_id), json={}, headers=alice.headers) as response:
        assert response.status == 403
        assert (await response.json())["errcode"] == "M_FORBIDDEN"


async def test_unknown_or_missing_token(federation):
    response = await federation.get(USERINFO, params={"access_token": "nope"})
    assert response.status == 401
    assert (await response.json())["errcode"] == "M_UNKNOWN_TOKEN"
    response = await federation.get(USERINFO)
    assert response.status == 400
    assert (await response.json())["errcode"] == "M_MISSING_PARAM"


async def test_expired_token_is_refused(homeserver: HomeServer, make_user, federation):
    alice = await make_user("alice")
    token = await OpenIdTokenStore(homeserver.db).create(alice.user_id, expires_ts=1)
    response = await federation.get(USERINFO, params={"access_token": token})
    assert response.status == 401
    assert (await response.json())["errcode"] == "M_UNKNOWN_TOKEN"
