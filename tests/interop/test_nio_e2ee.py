"""An end-to-end encrypted exchange between two matrix-nio clients (PyPI `matrix-nio[e2e]`,
vodozemac) on Veche: key upload, key query and claim, Olm-encrypted room keys over
to-device messages, and Megolm-encrypted messages each side decrypts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

nio = pytest.importorskip("nio")
if not nio.crypto.ENCRYPTION_ENABLED:
    pytest.skip("matrix-nio was installed without its e2e extra", allow_module_level=True)

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


@pytest.fixture
async def clients(base_url: str, tmp_path) -> AsyncIterator[tuple[nio.AsyncClient, nio.AsyncClient]]:
    made = []
    config = nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
    for name in ("alice", "bob"):
        store = tmp_path / name
        store.mkdir()
        client = nio.AsyncClient(base_url, store_path=str(store), config=config)
        response = await client.register(name, f"{name} password", device_name=f"{name}'s nio")
        assert isinstance(response, nio.RegisterResponse), response
        if client.olm is None:
            client.load_store()
        made.append(client)
    try:
        yield made[0], made[1]
    finally:
        for client in made:
            await client.close()


async def sync_once(client: nio.AsyncClient) -> nio.SyncResponse:
    """One sync, then the key maintenance a client's sync loop does after it."""
    response = await client.sync(timeout=1000)
    assert isinstance(response, nio.SyncResponse), response
    if client.should_upload_keys:
        assert isinstance(await client.keys_upload(), nio.KeysUploadResponse)
    if client.should_query_keys:
        assert isinstance(await client.keys_query(), nio.KeysQueryResponse)
    return response


async def sync_until(client: nio.AsyncClient, predicate, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        response = await sync_once(client)
        if predicate(response):
            return response
    raise AssertionError(f"{client.user_id} never saw what it waited for")


def decrypted_texts(response: nio.SyncResponse, room_id: str) -> list[str]:
    room = response.rooms.join.get(room_id)
    events = room.timeline.events if room else []
    return [e.body for e in events if isinstance(e, nio.RoomMessageText) and e.decrypted]


async def test_encrypted_messages_both_ways(clients, base_url):
    alice, bob = clients
    await sync_once(alice)
    await sync_once(bob)
    assert alice.olm.account.shared and bob.olm.account.shared

    created = await alice.room_create(invite=[bob.user_id], initial_state=[ENCRYPTION])
    assert isinstance(created, nio.RoomCreateResponse), created
    room_id = created.room_id
    await sync_until(bob, lambda r: room_id in r.rooms.invite)
    assert isinstance(await bob.join(room_id), nio.JoinResponse)
    await sync_until(alice, lambda r: bob.user_id in alice.rooms[room_id].users)
    assert alice.rooms[room_id].encrypted

    sent = await alice.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "secret from alice"}, ignore_unverified_devices=True
    )
    assert isinstance(sent, nio.RoomSendResponse), sent
    await sync_until(bob, lambda r: "secret from alice" in decrypted_texts(r, room_id))

    reply = await bob.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": "secret from bob"}, ignore_unverified_devices=True
    )
    assert isinstance(reply, nio.RoomSendResponse), reply
    await sync_until(alice, lambda r: "secret from bob" in decrypted_texts(r, room_id))

    # What the server holds is ciphertext only (nio would decrypt it, so ask over raw HTTP).
    async with aiohttp.ClientSession() as http, http.get(
        f"{base_url}/_matrix/client/v3/rooms/{room_id}/event/{sent.event_id}",
        headers={"Authorization": f"Bearer {bob.access_token}"},
    ) as response:
        stored = await response.json()
    assert stored["type"] == "m.room.encrypted"
    assert stored["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
    assert "secret" not in str(stored["content"])
