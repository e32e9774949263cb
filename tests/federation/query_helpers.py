"""What the federation query tests share: users on either server, client API calls, and
federation requests signed by one server to another (well or badly)."""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from veche.homeserver import HomeServer
from veche.protocol.signing import SigningKey, generate_signing_key
from veche.protocol.x_matrix import sign_request
from veche.services.federation.tls import federation_client_ssl_context
from tests.api.conftest import TestUser

from .conftest import Certificate

V3 = "/_matrix/client/v3"


async def make_user(hs: HomeServer, localpart: str) -> TestUser:
    user_id = f"@{localpart}:{hs.server_name}"
    await hs.accounts.create_account(user_id, await hs.passwords.hash("pw"))
    await hs.profiles.set_initial_profile(user_id)
    device_id = f"{localpart.upper()}DEVICE"
    await hs.accounts.create_device(user_id, device_id)
    token = await hs.accounts.create_access_token(user_id, device_id)
    return TestUser(user_id, device_id, token, "pw")


async def client_call(
    hs: HomeServer, method: str, path: str, user: TestUser | None = None, body: Any = None
) -> tuple[int, Any]:
    """A client API request to `hs`."""
    host, port = hs.bound["client"]
    headers = user.headers if user is not None else {}
    async with aiohttp.ClientSession() as http:
        url = f"http://{host}:{port}{path}"
        async with http.request(method, url, json=body, headers=headers) as response:
            return response.status, await response.json()


async def create_room(hs: HomeServer, user: TestUser, **body: Any) -> str:
    status, answer = await client_call(hs, "POST", f"{V3}/createRoom", user, body)
    assert status == 200, answer
    return answer["room_id"]


async def federation_call(
    origin: HomeServer,
    destination: HomeServer,
    method: str,
    path: str,
    certificate: Certificate,
    body: Any = None,
    *,
    key: SigningKey | None = None,
) -> tuple[int, Any]:
    """A request from `origin` to `destination`'s federation listener, signed with `key`
    (by default `origin`'s own, so pass another to forge a bad signature)."""
    host, port = destination.bound["federation"]
    header = sign_request(
        key or origin.signing_key, method, path, origin.server_name, destination.server_name, body
    )
    ssl_context = federation_client_ssl_context(ca_files=[certificate.cert])
    async with aiohttp.ClientSession() as http:
        async with http.request(
            method, URL(f"https://{host}:{port}{path}", encoded=True), json=body, headers={"Authorization": header}, ssl=ssl_context
        ) as response:
            return response.status, await response.json()


def impostor_key(hs: HomeServer) -> SigningKey:
    """A key with `hs`'s key ID that is not its key."""
    return generate_signing_key(hs.signing_key.version)
