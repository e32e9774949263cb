"""Two Veche servers over TLS on loopback: keys, notary queries and signed requests."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
import signedjson.key
import signedjson.sign
from aiohttp import web

from veche.api import app as app_module
from veche.api.federation.auth import read_federation_body
from veche.config import load_config
from veche.homeserver import HomeServer
from veche.protocol.signing import generate_signing_key, sign_json
from veche.protocol.x_matrix import sign_request
from veche.services.federation import FederationServices
from veche.services.federation.client import (
    DestinationUnreachable,
    FederationClient,
    FederationHttpError,
)
from veche.services.federation.discovery import DiscoveryError, ResolvedServer
from veche.services.federation.keyring import Keyring, KeyLookupError, Notary
from veche.services.federation.local_keys import LocalServerKeys
from veche.services.federation.tls import federation_client_ssl_context
from veche.storage.database import open_database
from veche.storage.server_keys import ServerKeyStore

from .conftest import Certificate, federation_environ

WHOAMI = "/_matrix/federation/unstable/veche.test/whoami"


def _whoami_routes(hs: HomeServer) -> list[web.RouteDef]:
    """An endpoint that answers with the authenticated origin and the body it signed."""

    async def whoami(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request)
        return web.json_response({"origin": origin, "content": await read_federation_body(request)})

    return [web.get(WHOAMI, whoami), web.put(WHOAMI + "/{txn}", whoami)]


@pytest.fixture(autouse=True)
def whoami_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = app_module.ROUTE_MODULES["federation"]
    monkeypatch.setitem(app_module.ROUTE_MODULES, "federation", (*routes, _whoami_routes))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _base(hs: HomeServer) -> str:
    host, port = hs.bound["federation"]
    return f"https://{host}:{port}"


async def test_version_over_tls(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    body = await a.federation.client.get_json(b.server_name, "/_matrix/federation/v1/version")
    assert body["server"]["name"] == "Veche"


async def test_fetches_and_stores_peer_keys(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    key = await a.federation.keyring.get_key(
        b.server_name, b.signing_key.key_id, valid_at_ts=_now_ms(), current_only=True
    )
    assert bytes(key.verify_key) == bytes(b.signing_key.verify_key)
    stored = await ServerKeyStore(a.db).get_keys(b.server_name)
    assert [k.key_id for k in stored] == [b.signing_key.key_id]
    with pytest.raises(KeyLookupError):
        await a.federation.keyring.get_key(b.server_name, "ed25519:nope", valid_at_ts=None)


async def test_published_keys_verify_with_signedjson(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    body = await a.federation.client.get_json(b.server_name, "/_matrix/key/v2/server")
    verify_key = signedjson.key.decode_verify_key_base64(
        "ed25519", b.signing_key.version, body["verify_keys"][b.signing_key.key_id]["key"]
    )
    signedjson.sign.verify_signed_json(body, b.server_name, verify_key)
    assert body["server_name"] == b.server_name
    assert body["valid_until_ts"] > _now_ms() + 3600 * 1000


async def test_signed_requests_are_authenticated(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    answer = await a.federation.client.get_json(b.server_name, WHOAMI, {"q": "a b/c"})
    assert answer == {"origin": a.server_name, "content": None}
    content = {"pdus": [], "edus": [{"edu_type": "m.typing", "content": {"n": 1.5}}]}
    answer = await a.federation.client.put_json(b.server_name, WHOAMI + "/t%2F1", content)
    assert answer == {"origin": a.server_name, "content": content}


async def test_bad_requests_get_401(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    ssl_context = federation_client_ssl_context(ca_files=[certificate.cert])
    async with aiohttp.ClientSession() as http:

        async def status_of(headers: dict[str, str]) -> tuple[int, str]:
            async with http.get(_base(b) + WHOAMI, headers=headers, ssl=ssl_context) as response:
                return response.status, (await response.json())["errcode"]

        assert await status_of({}) == (401, "M_UNAUTHORIZED")
        for destination, uri in [("elsewhere.example", WHOAMI), (b.server_name, WHOAMI + "?x=1")]:
            header = sign_request(a.signing_key, "GET", uri, a.server_name, destination)
            assert await status_of({"Authorization": header}) == (401, "M_UNAUTHORIZED")
        impostor = generate_signing_key(a.signing_key.version)
        header = sign_request(impostor, "GET", WHOAMI, a.server_name, b.server_name)
        assert await status_of({"Authorization": header}) == (401, "M_UNAUTHORIZED")
        good = sign_request(a.signing_key, "GET", WHOAMI, a.server_name, b.server_name)
        async with http.get(_base(b) + WHOAMI, headers={"Authorization": good}, ssl=ssl_context) as response:
            assert response.status == 200


async def test_notary_serves_keys_signed_by_both(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    answer = await a.federation.client.post_json(
        b.server_name, "/_matrix/key/v2/query", {"server_keys": {a.server_name: {}}}
    )
    [response] = answer["server_keys"]
    for server, hs in ((a.server_name, a), (b.server_name, b)):
        verify_key = signedjson.key.decode_verify_key_bytes(hs.signing_key.key_id, bytes(hs.signing_key.verify_key))
        signedjson.sign.verify_signed_json(response, server, verify_key)
    single = await a.federation.client.get_json(b.server_name, f"/_matrix/key/v2/query/{a.server_name}")
    assert single["server_keys"][0]["verify_keys"] == response["verify_keys"]
    empty = await a.federation.client.post_json(b.server_name, "/_matrix/key/v2/query", {"server_keys": {}})
    assert empty == {"server_keys": []}


class _OnlyReaches:
    """A resolver that reaches one server and finds every other unreachable."""

    def __init__(self, server_name: str, host: str, port: int) -> None:
        self._server = ResolvedServer(server_name, server_name, None, ((host, port),))

    async def resolve(self, server_name: str) -> ResolvedServer:
        if server_name != self._server.server_name:
            raise DiscoveryError(f"{server_name} is down")
        return self._server


async def test_keyring_falls_back_to_a_notary(
    servers: tuple[HomeServer, HomeServer], certificate: Certificate, tmp_path: Path
) -> None:
    a, b = servers
    # B learns A's keys, then a third server that cannot reach A asks B for them.
    await b.federation.keyring.get_key(a.server_name, a.signing_key.key_id, valid_at_ts=None)
    db = await open_database(str(tmp_path / "c.db"))
    key = generate_signing_key("c")
    client = FederationClient(
        server_name="c.example",
        signing_key=key,
        resolver=_OnlyReaches(b.server_name, *b.bound["federation"]),  # type: ignore[arg-type]
        ssl_context=federation_client_ssl_context(ca_files=[certificate.cert]),
    )
    try:
        keyring = Keyring(
            local_keys=LocalServerKeys("c.example", key, [], _now_ms),
            store=ServerKeyStore(db),
            client=client,
            notaries=[Notary(b.server_name)],
            clock=_now_ms,
        )
        fetched = await keyring.get_key(a.server_name, a.signing_key.key_id, valid_at_ts=_now_ms())
        assert bytes(fetched.verify_key) == bytes(a.signing_key.verify_key)
        signed = {"hello": "world"}
        sign_json(signed, a.server_name, a.signing_key)
        await keyring.verify_json(a.server_name, signed, valid_at_ts=_now_ms())
    finally:
        await client.close()
        await db.close()


async def _federation_for(a: HomeServer, environ: dict[str, str]) -> FederationServices:
    return FederationServices(load_config(None, environ), a.db, a.signing_key, a.stores.events)


async def test_private_addresses_refused_by_default(
    servers: tuple[HomeServer, HomeServer], certificate: Certificate, tmp_path: Path
) -> None:
    a, b = servers
    environ = federation_environ(certificate, tmp_path / "x", 1)
    del environ["VECHE_FEDERATION_ALLOW_PRIVATE_ADDRESSES"]
    federation = await _federation_for(a, environ)
    try:
        with pytest.raises(DestinationUnreachable, match="may not reach"):
            await federation.client.get_json(b.server_name, "/_matrix/federation/v1/version")
    finally:
        await federation.stop()


async def test_certificates_are_verified_unless_switched_off_for_tests(
    servers: tuple[HomeServer, HomeServer], certificate: Certificate, tmp_path: Path
) -> None:
    a, b = servers
    environ = federation_environ(certificate, tmp_path / "x", 1)
    del environ["VECHE_FEDERATION_CA_FILES"]
    federation = await _federation_for(a, environ)
    try:
        with pytest.raises(DestinationUnreachable, match="(?i)certificate"):
            await federation.client.get_json(b.server_name, "/_matrix/federation/v1/version")
    finally:
        await federation.stop()
    insecure = {**environ, "VECHE_FEDERATION_INSECURE_SKIP_TLS_VERIFICATION_FOR_TESTS": "on"}
    federation = await _federation_for(a, insecure)
    try:
        body = await federation.client.get_json(b.server_name, "/_matrix/federation/v1/version")
        assert body["server"]["name"] == "Veche"
    finally:
        await federation.stop()


async def test_http_errors_keep_the_errcode(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    with pytest.raises(FederationHttpError) as caught:
        await a.federation.client.get_json(b.server_name, "/_matrix/federation/v1/no_such_thing")
    assert (caught.value.status, caught.value.errcode) == (404, "M_UNRECOGNIZED")


@pytest.mark.parametrize("extra_settings", [{"VECHE_SERVE_SERVER_WELLKNOWN": "on", "VECHE_DELEGATED_SERVER_NAME": "matrix.example.org:443"}])
async def test_server_wellknown_served_when_enabled(servers: tuple[HomeServer, HomeServer]) -> None:
    a, _ = servers
    host, port = a.bound["client"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{host}:{port}/.well-known/matrix/server") as response:
            assert await response.json() == {"m.server": "matrix.example.org:443"}


async def test_notary_reads_an_unreadable_minimum_valid_until_ts_as_now(
    servers: tuple[HomeServer, HomeServer],
) -> None:
    # "²" passes str.isdigit() but not int(): it once ended these requests in a 500.
    a, b = servers
    single = await a.federation.client.get_json(
        b.server_name, f"/_matrix/key/v2/query/{a.server_name}", {"minimum_valid_until_ts": "²"}
    )
    assert len(single["server_keys"]) == 1
    criteria = {"server_keys": {a.server_name: {a.signing_key.key_id: {"minimum_valid_until_ts": "²"}}}}
    answer = await a.federation.client.post_json(b.server_name, "/_matrix/key/v2/query", criteria)
    assert len(answer["server_keys"]) == 1
