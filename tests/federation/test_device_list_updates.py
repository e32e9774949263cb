"""Device-list updates between two Veche servers over TLS: B's user shares a room on A
with A's user; B's device and cross-signing changes reach A as EDUs, A applies them to
the list it kept (no new GET /user/devices) and A's user hears of them in /sync."""

from __future__ import annotations

from typing import Any

import pytest

from veche.homeserver import HomeServer
from veche.services.federation.remote_devices import RemoteDeviceLists
from veche.storage.remote_devices import RemoteDeviceStore
from tests.api.conftest import TestUser
from tests.api.e2ee_helpers import CrossSigningSet, FakeDevice

from .query_helpers import V3, client_call, make_user
from .test_send import wait_for


async def sync(hs: HomeServer, user: TestUser, since: str | None = None) -> dict[str, Any]:
    path = f"{V3}/sync?timeout=0" + (f"&since={since}" if since else "")
    status, body = await client_call(hs, "GET", path, user)
    assert status == 200, body
    return body


async def query(hs: HomeServer, user: TestUser, target: str) -> dict[str, Any]:
    status, answer = await client_call(hs, "POST", f"{V3}/keys/query", user, {"device_keys": {target: []}})
    assert status == 200 and answer["failures"] == {}, answer
    return answer


async def test_changes_on_b_reach_a(servers: tuple[HomeServer, HomeServer], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = servers
    alice = await make_user(a, "alice")
    bob = await make_user(b, "bob")
    keys = {"device_keys": FakeDevice(bob.user_id, bob.device_id).device_keys()}
    status, answer = await client_call(b, "POST", f"{V3}/keys/upload", bob, keys)
    assert status == 200, answer
    room_id = await a.room_creator.create_room(alice.user_id, {"preset": "public_chat"})
    await b.membership.join(bob.user_id, room_id, via=[a.server_name])
    # The join brings A bob's last device change; an update arriving while A fetches the
    # list keeps A from storing the answer, so let it land first.
    await b.federation_events.outbox.idle()

    fetches: list[str] = []
    fetch = RemoteDeviceLists.fetch

    async def counted_fetch(self: RemoteDeviceLists, user_id: str, timeout: float) -> dict[str, Any]:
        fetches.append(user_id)
        return await fetch(self, user_id, timeout)

    monkeypatch.setattr(RemoteDeviceLists, "fetch", counted_fetch)
    # Alice's first query of a user she now shares a room with asks B and keeps the list.
    assert sorted((await query(a, alice, bob.user_id))["device_keys"][bob.user_id]) == [bob.device_id]
    assert fetches == [bob.user_id]
    since = (await sync(a, alice))["next_batch"]

    # Bob logs in on a phone and uploads its keys.
    status, login = await client_call(b, "POST", f"{V3}/login", None, {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"},
        "password": "pw", "device_id": "PHONE", "initial_device_display_name": "Bob's phone",
    })
    assert status == 200, login
    phone = TestUser(bob.user_id, "PHONE", login["access_token"], "pw")
    phone_keys = FakeDevice(bob.user_id, "PHONE").device_keys()
    status, _ = await client_call(b, "POST", f"{V3}/keys/upload", phone, {"device_keys": phone_keys})
    assert status == 200
    expected_stream = (await b.e2ee.keys.user_devices(bob.user_id))["stream_id"]
    store = RemoteDeviceStore(a.db)

    async def a_kept_the_phone() -> bool:
        kept = (await store.get([bob.user_id])).get(bob.user_id)
        return kept is not None and kept["stream_id"] == expected_stream

    await wait_for(a_kept_the_phone)
    answer = await query(a, alice, bob.user_id)
    assert answer["device_keys"][bob.user_id]["PHONE"]["keys"] == phone_keys["keys"]
    assert answer["device_keys"][bob.user_id]["PHONE"]["unsigned"] == {"device_display_name": "Bob's phone"}
    assert fetches == [bob.user_id]  # applied to the kept list, not fetched again
    body = await sync(a, alice, since)
    assert bob.user_id in body["device_lists"]["changed"]
    since = body["next_batch"]

    # Cross-signing keys follow, then the phone is deleted.
    cross_signing = CrossSigningSet(bob.user_id)
    status, _ = await client_call(b, "POST", f"{V3}/keys/device_signing/upload", bob, cross_signing.upload_body())
    assert status == 200

    async def a_has_the_master_key() -> bool:
        kept = (await store.get([bob.user_id])).get(bob.user_id)
        return kept is not None and "master_key" in kept

    await wait_for(a_has_the_master_key)
    await b.devices.delete(bob.user_id, ["PHONE"])
    expected_stream = (await b.e2ee.keys.user_devices(bob.user_id))["stream_id"]
    await wait_for(a_kept_the_phone)
    answer = await query(a, alice, bob.user_id)
    assert sorted(answer["device_keys"][bob.user_id]) == [bob.device_id]
    assert answer["master_keys"][bob.user_id]["keys"] == cross_signing.key_json("master")["keys"]
    assert fetches == [bob.user_id]
    body = await sync(a, alice, since)
    assert bob.user_id in body["device_lists"]["changed"]


async def test_a_missed_update_makes_a_ask_again(
    servers: tuple[HomeServer, HomeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    alice = await make_user(a, "alice")
    bob = await make_user(b, "bob")
    room_id = await a.room_creator.create_room(alice.user_id, {"preset": "public_chat"})
    await b.membership.join(bob.user_id, room_id, via=[a.server_name])
    keys = {"device_keys": FakeDevice(bob.user_id, bob.device_id).device_keys()}
    await client_call(b, "POST", f"{V3}/keys/upload", bob, keys)
    await b.federation_events.outbox.idle()
    await query(a, alice, bob.user_id)
    store = RemoteDeviceStore(a.db)
    assert bob.user_id in await store.get([bob.user_id])

    # B's update of a second device is lost on the way: A's copy stays as it was...
    sender = b.federation_events.sender
    real = sender.servers_sharing_rooms_with

    async def nobody(user_id: str) -> set[str]:
        return set()

    monkeypatch.setattr(sender, "servers_sharing_rooms_with", nobody)
    await b.devices.open_session_device(bob.user_id, "LOST", None)
    monkeypatch.setattr(sender, "servers_sharing_rooms_with", real)
    # ...until the next one names it as its prev_id: A drops the copy and asks B again.
    await b.devices.open_session_device(bob.user_id, "THIRD", None)

    async def dropped() -> bool:
        return await store.get([bob.user_id]) == {}

    await wait_for(dropped)
    answer = await query(a, alice, bob.user_id)
    assert sorted(answer["device_keys"][bob.user_id]) == [bob.device_id]  # the new devices have no keys
    kept = (await store.get([bob.user_id]))[bob.user_id]
    assert kept["stream_id"] == (await b.e2ee.keys.user_devices(bob.user_id))["stream_id"]


async def test_a_join_brings_servers_new_to_the_user_their_device_list(
    servers: tuple[HomeServer, HomeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """server-server-api.md "Device Management": EDUs are due "when that user joins a room
    which contains servers which are not already receiving updates for that user's device
    list"; not when the servers already share a room with the user."""
    a, b = servers
    alice = await make_user(a, "alice")
    bob = await make_user(b, "bob")
    device_keys = FakeDevice(alice.user_id, alice.device_id).device_keys()
    status, _ = await client_call(a, "POST", f"{V3}/keys/upload", alice, {"device_keys": device_keys})
    assert status == 200
    cross_signing = CrossSigningSet(alice.user_id)
    status, _ = await client_call(a, "POST", f"{V3}/keys/device_signing/upload", alice, cross_signing.upload_body())
    assert status == 200
    await a.federation_events.outbox.idle()  # nobody shares a room with alice yet: nothing sent
    received: list[dict[str, Any]] = []
    receive = b.federation_events.edus.receive

    async def recorded(origin: str, edu: Any) -> None:
        if origin == a.server_name and edu.get("edu_type") in ("m.device_list_update", "m.signing_key_update"):
            received.append(edu)
        await receive(origin, edu)

    monkeypatch.setattr(b.federation_events.edus, "receive", recorded)
    room_id = await b.room_creator.create_room(bob.user_id, {"preset": "public_chat"})

    await a.membership.join(alice.user_id, room_id, via=[b.server_name])

    async def both_arrived() -> bool:
        return len(received) == 2

    await wait_for(both_arrived)
    by_type = {edu["edu_type"]: edu["content"] for edu in received}
    update = by_type["m.device_list_update"]
    assert update["user_id"] == alice.user_id and update["device_id"] == alice.device_id
    assert update["stream_id"] == (await a.e2ee.keys.user_devices(alice.user_id))["stream_id"]
    assert update["keys"]["keys"] == device_keys["keys"] and update["deleted"] is False
    assert by_type["m.signing_key_update"]["master_key"]["keys"] == cross_signing.key_json("master")["keys"]

    # B already hears of alice's devices: a second shared room and a profile change bring nothing.
    received.clear()
    second = await b.room_creator.create_room(bob.user_id, {"preset": "public_chat"})
    await a.membership.join(alice.user_id, second, via=[b.server_name])
    path = f"{V3}/profile/{alice.user_id}/displayname"
    status, _ = await client_call(a, "PUT", path, alice, {"displayname": "Alice"})
    assert status == 200
    await a.federation_events.outbox.idle()
    assert received == []
