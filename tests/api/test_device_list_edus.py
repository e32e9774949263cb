"""Device-list updates over federation, on both engines: the m.device_list_update and
m.signing_key_update EDUs a local user's changes queue for the servers sharing a room
(stream_id, prev_id, deleted, keys), and a remote user's kept device list following the
EDUs its server sends (applied in sequence, dropped as stale after a gap)."""

from __future__ import annotations

from typing import Any

import pytest

from veche.homeserver import HomeServer
from veche.storage.remote_devices import RemoteDeviceStore
from tests.api.e2ee_helpers import V3, CrossSigningSet, FakeDevice, post, request, upload_device_keys

PEER = "peer.example"
BOB = f"@bob:{PEER}"


@pytest.fixture
async def queued(homeserver: HomeServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The EDUs queued for PEER, which shares a room with every local user here; the
    outbox is stopped so they stay queued."""
    await homeserver.federation_events.outbox.stop()

    async def servers_sharing_rooms_with(user_id: str) -> set[str]:
        return {PEER}

    monkeypatch.setattr(homeserver.federation_events.sender, "servers_sharing_rooms_with", servers_sharing_rooms_with)

    async def edus(edu_type: str) -> list[dict[str, Any]]:
        entries = await homeserver.federation_events.outbox._store.pending(PEER, 1000)
        return [e.edu["content"] for e in entries if e.edu is not None and e.edu["edu_type"] == edu_type]

    return edus


async def test_device_changes_are_numbered_in_sequence(http, make_user, homeserver: HomeServer, queued) -> None:
    alice = await make_user("alice")
    device = FakeDevice(alice.user_id, alice.device_id)
    await upload_device_keys(http, alice, device)
    await request(http, "PUT", alice, f"/devices/{alice.device_id}", {"display_name": "Alice's laptop"})
    login = await post(http, alice, "/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
        "password": alice.password, "device_id": "PHONE", "initial_device_display_name": "Phone",
    })
    assert login["device_id"] == "PHONE"
    await homeserver.devices.delete(alice.user_id, ["PHONE", "NO-SUCH-DEVICE"])

    updates = await queued("m.device_list_update")
    assert [(u["device_id"], u["deleted"]) for u in updates] == [
        (alice.device_id, False), (alice.device_id, False), ("PHONE", False), ("PHONE", True),
    ]
    assert all(u["user_id"] == alice.user_id for u in updates)
    stream_ids = [u["stream_id"] for u in updates]
    assert stream_ids == sorted(stream_ids) and len(set(stream_ids)) == 4
    assert updates[0]["prev_id"] == []
    assert [u["prev_id"] for u in updates[1:]] == [[s] for s in stream_ids[:-1]]

    keys = updates[0]["keys"]
    assert (keys["keys"], keys["signatures"]) == (device.device_keys()["keys"], device.device_keys()["signatures"])
    assert updates[1]["device_display_name"] == "Alice's laptop" and updates[1]["keys"]["keys"] == keys["keys"]
    assert updates[2]["device_display_name"] == "Phone" and "keys" not in updates[2]
    assert "keys" not in updates[3]

    # /user/devices continues the same sequence.
    answer = await homeserver.e2ee.keys.user_devices(alice.user_id)
    assert answer["stream_id"] == stream_ids[-1]


async def test_cross_signing_updates(http, make_user, homeserver: HomeServer, queued) -> None:
    alice = await make_user("alice")
    device = FakeDevice(alice.user_id, alice.device_id)
    await upload_device_keys(http, alice, device)
    before = await homeserver.e2ee.keys.user_devices(alice.user_id)
    cross_signing = CrossSigningSet(alice.user_id)
    await post(http, alice, "/keys/device_signing/upload", cross_signing.upload_body())

    [update] = await queued("m.signing_key_update")
    assert update["user_id"] == alice.user_id
    assert update["master_key"]["keys"] == cross_signing.key_json("master")["keys"]
    assert update["self_signing_key"]["usage"] == ["self_signing"]
    assert "user_signing_key" not in update
    # A cross-signing change is outside the device sequence, so it opens no gap there.
    assert (await homeserver.e2ee.keys.user_devices(alice.user_id))["stream_id"] == before["stream_id"]

    signed_device = cross_signing.self_signing.sign(device.device_keys(), alice.user_id)
    signed_master = device.key.sign(cross_signing.key_json("master"), alice.user_id)
    body = {alice.user_id: {alice.device_id: signed_device, cross_signing.master.public: signed_master}}
    assert await post(http, alice, "/keys/signatures/upload", body) == {"failures": {}}

    updates = await queued("m.device_list_update")
    assert [u["device_id"] for u in updates] == [alice.device_id, alice.device_id]
    assert updates[1]["prev_id"] == [updates[0]["stream_id"]]
    signatures = updates[1]["keys"]["signatures"][alice.user_id]
    assert signatures[cross_signing.self_signing.key_id] == signed_device["signatures"][alice.user_id][
        cross_signing.self_signing.key_id
    ]
    signing_updates = await queued("m.signing_key_update")
    assert len(signing_updates) == 2
    assert device.key.key_id in signing_updates[1]["master_key"]["signatures"][alice.user_id]


async def test_no_servers_no_updates(http, make_user, homeserver: HomeServer) -> None:
    await homeserver.federation_events.outbox.stop()
    alice = await make_user("alice")
    await upload_device_keys(http, alice, FakeDevice(alice.user_id, alice.device_id))
    assert await homeserver.federation_events.outbox._store.destinations_with_entries() == []


# A remote user's kept list.


def bobs_device(device_id: str) -> dict[str, Any]:
    keys = FakeDevice(BOB, device_id).device_keys()
    return {"device_id": device_id, "keys": keys}


@pytest.fixture
async def kept(homeserver: HomeServer, monkeypatch: pytest.MonkeyPatch) -> RemoteDeviceStore:
    """Bob on PEER shares a room here, and his list was kept at stream 10."""

    async def is_tracked(user_id: str) -> bool:
        return user_id == BOB

    monkeypatch.setattr(homeserver.remote_devices, "is_tracked", is_tracked)
    store = RemoteDeviceStore(homeserver.db)
    answer = {"user_id": BOB, "stream_id": 10, "devices": [bobs_device("ONE")]}
    await store.put(BOB, 10, answer, 0)
    return store


async def receive(homeserver: HomeServer, edu_type: str, content: dict[str, Any]) -> None:
    await homeserver.federation_events.edus.receive(PEER, {"edu_type": edu_type, "content": content})


async def kept_devices(store: RemoteDeviceStore) -> tuple[int, dict[str, Any]] | None:
    answer = (await store.get([BOB])).get(BOB)
    if answer is None:
        return None
    return answer["stream_id"], {d["device_id"]: d for d in answer["devices"]}


async def test_updates_in_sequence_are_applied(homeserver: HomeServer, kept: RemoteDeviceStore) -> None:
    two = bobs_device("TWO")
    await receive(homeserver, "m.device_list_update", {
        "user_id": BOB, "device_id": "TWO", "stream_id": 12, "prev_id": [10], "keys": two["keys"],
        "device_display_name": "Bob's phone",
    })
    stream_id, devices = await kept_devices(kept)
    assert stream_id == 12 and sorted(devices) == ["ONE", "TWO"]
    assert devices["TWO"]["device_display_name"] == "Bob's phone"
    answer = await homeserver.e2ee.keys.query(BOB, {"device_keys": {BOB: []}})
    assert answer["device_keys"][BOB]["TWO"]["unsigned"] == {"device_display_name": "Bob's phone"}

    # A deletion removes the device.
    deletion = {"user_id": BOB, "device_id": "ONE", "stream_id": 13, "prev_id": [12], "deleted": True}
    await receive(homeserver, "m.device_list_update", deletion)
    assert await kept_devices(kept) == (13, {"TWO": devices["TWO"]})

    master = {"user_id": BOB, "usage": ["master"], "keys": {"ed25519:M": "M"}}
    await receive(homeserver, "m.signing_key_update", {"user_id": BOB, "master_key": master})
    assert (await kept.get([BOB]))[BOB]["master_key"] == master


@pytest.mark.parametrize("update", [
    {"stream_id": 12, "prev_id": [11]},  # follows an update never received
    {"stream_id": 9, "prev_id": [8]},  # numbered before the kept list's position
    {"stream_id": 12, "prev_id": [10], "keys": {"user_id": BOB, "device_id": "OTHER"}},  # keys of another device
])
async def test_gaps_and_nonsense_drop_the_list(homeserver: HomeServer, kept: RemoteDeviceStore, update) -> None:
    await receive(homeserver, "m.device_list_update", {"user_id": BOB, "device_id": "TWO", **update})
    assert await kept_devices(kept) is None


async def test_the_kept_lists_last_change_sent_again_changes_nothing(
    homeserver: HomeServer, kept: RemoteDeviceStore
) -> None:
    # A server resends a user's last update, numbered as first sent, to servers that newly
    # share a room with them (server-server-api.md "Device Management").
    before = await kept_devices(kept)
    await receive(homeserver, "m.device_list_update", {"user_id": BOB, "device_id": "ONE", "stream_id": 10, "prev_id": [9]})
    assert await kept_devices(kept) == before


async def test_malformed_updates_change_nothing(homeserver: HomeServer, kept: RemoteDeviceStore) -> None:
    before = await kept_devices(kept)
    for content in (
        {"user_id": "@bob:elsewhere.example", "device_id": "X", "stream_id": 12, "prev_id": [10]},
        {"user_id": "not a user", "device_id": "X", "stream_id": 12, "prev_id": [10]},
        {"user_id": BOB, "device_id": "X", "stream_id": "12", "prev_id": [10]},
        {"user_id": BOB, "stream_id": 12, "prev_id": [10]},
        {"user_id": BOB, "device_id": "X", "stream_id": 12, "prev_id": 10},
    ):
        await receive(homeserver, "m.device_list_update", content)
    assert await kept_devices(kept) == before


async def test_a_bad_signing_key_update_drops_the_list(homeserver: HomeServer, kept: RemoteDeviceStore) -> None:
    master = {"user_id": "@eve:peer.example", "usage": ["master"], "keys": {"ed25519:M": "M"}}
    await receive(homeserver, "m.signing_key_update", {"user_id": BOB, "master_key": master})
    assert await kept_devices(kept) is None
