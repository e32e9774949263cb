"""Device keys across two Veche servers: a user on A queries and claims the keys of a user
on B through A's client API (/keys/query, /keys/claim), and B serves /user/keys/query,
/user/keys/claim and /user/devices to signed requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from veche.homeserver import HomeServer
from veche.protocol.events import Event
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS
from veche.services.federation.remote_devices import RemoteDeviceLists
from veche.services.federation.tls import server_ssl_context
from veche.storage.remote_devices import RemoteDeviceStore
from tests.api.conftest import TestUser
from tests.api.e2ee_helpers import CrossSigningSet, FakeDevice

from .conftest import Certificate, free_port
from .query_helpers import V3, client_call, federation_call, impostor_key, make_user

V1 = "/_matrix/federation/v1"


async def _bob_with_keys(b: HomeServer) -> tuple[TestUser, FakeDevice, CrossSigningSet]:
    bob = await make_user(b, "bob")
    device = FakeDevice(bob.user_id, bob.device_id)
    body = {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(2)}
    body["fallback_keys"] = device.one_time_keys(1, prefix="FB", fallback=True)
    status, answer = await client_call(b, "POST", f"{V3}/keys/upload", bob, body)
    assert status == 200, answer
    cross_signing = CrossSigningSet(bob.user_id)
    status, answer = await client_call(b, "POST", f"{V3}/keys/device_signing/upload", bob, cross_signing.upload_body())
    assert status == 200, answer
    return bob, device, cross_signing


async def test_query_and_claim_remote_keys(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    bob, device, cross_signing = await _bob_with_keys(b)
    alice = await make_user(a, "alice")
    nobody = f"@nobody:{b.server_name}"
    body = {"device_keys": {bob.user_id: [], nobody: [], alice.user_id: []}, "timeout": 5000}
    status, answer = await client_call(a, "POST", f"{V3}/keys/query", alice, body)
    assert status == 200, answer
    keys = answer["device_keys"][bob.user_id][bob.device_id]
    assert keys["keys"] == device.device_keys()["keys"]
    assert keys["signatures"] == device.device_keys()["signatures"]
    assert answer["device_keys"][nobody] == {}
    assert answer["device_keys"][alice.user_id] == {}
    assert answer["master_keys"][bob.user_id]["keys"] == cross_signing.key_json("master")["keys"]
    assert answer["self_signing_keys"][bob.user_id]["usage"] == ["self_signing"]
    assert "user_signing_keys" not in answer
    assert answer["failures"] == {}

    status, answer = await client_call(
        a, "POST", f"{V3}/keys/query", alice, {"device_keys": {bob.user_id: ["OTHER"]}}
    )
    assert (status, answer["device_keys"][bob.user_id]) == (200, {})

    wanted = {"one_time_keys": {bob.user_id: {bob.device_id: "signed_curve25519"}}}
    claimed = []
    for _ in range(3):
        status, answer = await client_call(a, "POST", f"{V3}/keys/claim", alice, wanted)
        assert status == 200 and answer["failures"] == {}, answer
        [(key_id, key)] = answer["one_time_keys"][bob.user_id][bob.device_id].items()
        claimed.append(key_id)
        assert "signatures" in key
    # The two one-time keys (in either order: one upload), each given out once, then the
    # fallback key.
    assert sorted(claimed[:2]) == ["signed_curve25519:AAAA0", "signed_curve25519:AAAA1"]
    assert claimed[2] == "signed_curve25519:FB0"


@pytest.mark.parametrize("extra_settings", [{"VECHE_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "off"}])
async def test_unreachable_servers_are_failures(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice = await make_user(a, "alice")
    bob = f"@bob:{b.server_name}"
    body = {"device_keys": {bob: [], alice.user_id: []}}
    status, answer = await client_call(a, "POST", f"{V3}/keys/query", alice, body)
    assert status == 200, answer
    assert list(answer["failures"]) == [b.server_name]
    assert answer["failures"][b.server_name]["status"] == 503
    assert bob not in answer["device_keys"]
    body = {"one_time_keys": {bob: {"DEV": "signed_curve25519"}}}
    status, answer = await client_call(a, "POST", f"{V3}/keys/claim", alice, body)
    assert (status, answer["one_time_keys"], list(answer["failures"])) == (200, {}, [b.server_name])


async def test_user_keys_served(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    bob, device, cross_signing = await _bob_with_keys(b)
    outsider = f"@carol:{a.server_name}"
    body: dict[str, Any] = {"device_keys": {bob.user_id: [bob.device_id], outsider: []}}
    status, answer = await federation_call(a, b, "POST", f"{V1}/user/keys/query", certificate, body)
    assert status == 200, answer
    assert list(answer["device_keys"]) == [bob.user_id]
    assert answer["device_keys"][bob.user_id][bob.device_id]["keys"] == device.device_keys()["keys"]
    assert list(answer["master_keys"]) == [bob.user_id]
    assert "user_signing_keys" not in answer and "failures" not in answer

    body = {"one_time_keys": {bob.user_id: {bob.device_id: "signed_curve25519"}, outsider: {"X": "signed_curve25519"}}}
    status, answer = await federation_call(a, b, "POST", f"{V1}/user/keys/claim", certificate, body)
    assert status == 200, answer
    assert list(answer["one_time_keys"]) == [bob.user_id]

    for path, bad in ((f"{V1}/user/keys/query", {"device_keys": []}), (f"{V1}/user/keys/claim", {})):
        status, answer = await federation_call(a, b, "POST", path, certificate, bad)
        assert (status, answer["errcode"]) == (400, "M_BAD_JSON")
    status, answer = await federation_call(
        a, b, "POST", f"{V1}/user/keys/query", certificate, {"device_keys": {}}, key=impostor_key(a)
    )
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")


async def test_user_devices_served(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    bob, device, cross_signing = await _bob_with_keys(b)
    status, _ = await client_call(b, "PUT", f"{V3}/devices/{bob.device_id}", bob, {"display_name": "Bob's phone"})
    assert status == 200
    path = f"{V1}/user/devices/{quote(bob.user_id)}"
    status, answer = await federation_call(a, b, "GET", path, certificate)
    assert status == 200, answer
    assert answer["user_id"] == bob.user_id
    assert isinstance(answer["stream_id"], int) and answer["stream_id"] > 0
    [entry] = answer["devices"]
    assert (entry["device_id"], entry["device_display_name"]) == (bob.device_id, "Bob's phone")
    assert entry["keys"]["keys"] == device.device_keys()["keys"]
    assert answer["master_key"]["keys"] == cross_signing.key_json("master")["keys"]
    assert answer["self_signing_key"]["usage"] == ["self_signing"]

    # A new device's keys move the stream on.
    before = answer["stream_id"]
    other = FakeDevice(bob.user_id, "SECOND")
    await b.accounts.create_device(bob.user_id, "SECOND")
    token = await b.accounts.create_access_token(bob.user_id, "SECOND")
    second = TestUser(bob.user_id, "SECOND", token, "pw")
    await client_call(b, "POST", f"{V3}/keys/upload", second, {"device_keys": other.device_keys()})
    status, answer = await federation_call(a, b, "GET", path, certificate)
    assert answer["stream_id"] > before and len(answer["devices"]) == 2

    for user_id in (f"@nobody:{b.server_name}", f"@alice:{a.server_name}", "not-a-user"):
        status, answer = await federation_call(a, b, "GET", f"{V1}/user/devices/{quote(user_id)}", certificate)
        assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
    status, answer = await federation_call(a, b, "GET", path, certificate, key=impostor_key(a))
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")


async def test_device_lists_of_users_sharing_a_room_are_kept(
    servers: tuple[HomeServer, HomeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    bob, device, _ = await _bob_with_keys(b)
    alice = await make_user(a, "alice")
    # Rooms are not shared over federation yet here, so stand in for "a room is shared".
    tracked = {bob.user_id}

    async def is_tracked(self: RemoteDeviceLists, user_id: str) -> bool:
        return user_id in tracked

    monkeypatch.setattr(RemoteDeviceLists, "is_tracked", is_tracked)
    store = RemoteDeviceStore(a.db)

    async def bobs_devices() -> list[str]:
        status, answer = await client_call(a, "POST", f"{V3}/keys/query", alice, {"device_keys": {bob.user_id: []}})
        assert status == 200 and answer["failures"] == {}, answer
        assert answer["master_keys"][bob.user_id]["usage"] == ["master"]
        return sorted(answer["device_keys"][bob.user_id])

    assert await bobs_devices() == [bob.device_id]
    kept = await store.get([bob.user_id])
    assert [d["device_id"] for d in kept[bob.user_id]["devices"]] == [bob.device_id]

    # Bob adds a device: until A hears of it, A answers from what it kept.
    await b.accounts.create_device(bob.user_id, "SECOND")
    second = TestUser(bob.user_id, "SECOND", await b.accounts.create_access_token(bob.user_id, "SECOND"), "pw")
    await client_call(b, "POST", f"{V3}/keys/upload", second, {"device_keys": FakeDevice(bob.user_id, "SECOND").device_keys()})
    assert await bobs_devices() == [bob.device_id]
    # An m.device_list_update that follows one A never heard of drops the copy as stale.
    kept_at = kept[bob.user_id]["stream_id"]
    update = {"user_id": bob.user_id, "device_id": "SECOND", "stream_id": kept_at + 2, "prev_id": [kept_at + 1]}
    await a.federation_events.edus.receive(b.server_name, {"edu_type": "m.device_list_update", "content": update})
    assert await store.get([bob.user_id]) == {}
    assert await bobs_devices() == [bob.device_id, "SECOND"]
    assert bob.user_id in await store.get([bob.user_id])

    # Bob leaving a shared room drops it too.
    leave = Event(
        {"type": "m.room.member", "state_key": bob.user_id, "sender": bob.user_id, "room_id": "!r:x",
         "content": {"membership": "leave"}, "origin_server_ts": 0},
        KNOWN_ROOM_VERSIONS["10"],
        "$leave",
    )
    await a.remote_devices.on_event(leave, 0)
    assert await store.get([bob.user_id]) == {}

    # No longer sharing a room: kept lists are not trusted, keys are asked for each time.
    assert await bobs_devices() == [bob.device_id, "SECOND"]
    tracked.clear()
    assert await bobs_devices() == [bob.device_id, "SECOND"]
    assert await store.get([bob.user_id]) == {}


@pytest.fixture
async def silent_peer(certificate: Certificate) -> AsyncIterator[str]:
    """A TLS 'server' that takes far longer to answer key queries than clients wait."""
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post(f"{V1}/user/keys/query", stall)
    app.router.add_post(f"{V1}/user/keys/claim", stall)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl_context(certificate.cert, certificate.key)).start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        release.set()
        await runner.cleanup()


async def test_slow_servers_fail_after_the_timeout(
    servers: tuple[HomeServer, HomeServer], silent_peer: str
) -> None:
    a, b = servers
    bob, _, _ = await _bob_with_keys(b)
    alice = await make_user(a, "alice")
    slow_user = f"@slow:{silent_peer}"
    body = {"device_keys": {bob.user_id: [], slow_user: []}, "timeout": 1000}
    status, answer = await client_call(a, "POST", f"{V3}/keys/query", alice, body)
    assert status == 200, answer
    assert list(answer["failures"]) == [silent_peer]
    assert list(answer["device_keys"][bob.user_id]) == [bob.device_id]
    body = {"one_time_keys": {bob.user_id: {bob.device_id: "signed_curve25519"}, slow_user: {"D": "signed_curve25519"}}, "timeout": 1000}
    status, answer = await client_call(a, "POST", f"{V3}/keys/claim", alice, body)
    assert (status, list(answer["failures"])) == (200, [silent_peer])
    assert list(answer["one_time_keys"]) == [bob.user_id]
