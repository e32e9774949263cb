"""Two Veche servers over TLS: local events and EDUs reach the other server through the
outbox and PUT /send, and peers read rooms through the read endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from veche.homeserver import HomeServer
from veche.services.federation.client import FederationHttpError
from veche.services.rooms.sending import EventDraft

from .room_setup import join_remote_user


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def timeline_of(hs: HomeServer, room_id: str) -> list[str]:
    recent = await hs.stores.events.get_recent_room_events(room_id, 0, hs.stores.events.current_stream_token, 100)
    return [e.event_id for e in recent.events]


async def shared_room(a: HomeServer, b: HomeServer, version: str = "12") -> tuple[str, str, str]:
    """A room on A with A's alice and B's bob joined; returns (room_id, alice, bob)."""
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": version})
    await join_remote_user(a, b, room_id, bob)
    return room_id, alice, bob


@pytest.mark.parametrize("version", ["10", "12"])
async def test_events_flow_both_ways(servers: tuple[HomeServer, HomeServer], version: str) -> None:
    a, b = servers
    room_id, alice, bob = await shared_room(a, b, version)
    sent = [
        await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": f"a{i}"})) for i in range(3)
    ]

    async def b_has_all() -> bool:
        return set(e.event_id for e in sent) <= set(await timeline_of(b, room_id))

    await wait_for(b_has_all)
    timeline = await timeline_of(b, room_id)
    assert [t for t in timeline if t in {e.event_id for e in sent}] == [e.event_id for e in sent]

    reply = await b.sender.send(room_id, bob, EventDraft("m.room.message", {"body": "from b"}))

    async def a_has_reply() -> bool:
        return reply.event_id in await timeline_of(a, room_id)

    await wait_for(a_has_reply)
    assert await a.stores.events.get_forward_extremities(room_id) == [reply.event_id]
    # Received events are not sent back: A's outbox holds nothing for B once idle.
    await a.federation_events.outbox.idle()
    assert await a.federation_events.outbox._store.pending(b.server_name, 10) == []


async def test_typing_and_receipts_reach_the_other_servers_sync(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    room_id, alice, bob = await shared_room(a, b)
    await b.accounts.create_account(bob, None)
    await b.accounts.create_device(bob, "BOBDEVICE")
    token = await b.accounts.create_access_token(bob, "BOBDEVICE")
    host, port = b.bound["client"]
    headers = {"Authorization": f"Bearer {token}"}

    await a.user_data.typing.set_typing(room_id, alice, True, 30_000)
    message = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "read me"}))

    async def b_has_message() -> bool:
        return message.event_id in await timeline_of(b, room_id)

    await wait_for(b_has_message)
    await a.user_data.receipts.send_receipt(room_id, alice, "m.read", message.event_id, None)

    async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
        ephemeral: dict[str, Any] = {}

        async def synced() -> bool:
            async with http.get("/_matrix/client/v3/sync", headers=headers) as response:
                body = await response.json()
            room = body.get("rooms", {}).get("join", {}).get(room_id, {})
            for event in room.get("ephemeral", {}).get("events", []):
                ephemeral[event["type"]] = event["content"]
            return "m.typing" in ephemeral and "m.receipt" in ephemeral

        await wait_for(synced)
    assert ephemeral["m.typing"] == {"user_ids": [alice]}
    assert alice in ephemeral["m.receipt"][message.event_id]["m.read"]


async def test_read_endpoints(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    room_id, alice, bob = await shared_room(a, b)
    topic = await a.sender.send(room_id, alice, EventDraft("m.room.topic", {"topic": "t"}, ""))
    message = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "m"}))
    client = b.federation.client
    base = "/_matrix/federation/v1"

    got = await client.get_json(a.server_name, f"{base}/event/{message.event_id}")
    assert got["pdus"] == [message.pdu] and got["origin"] == a.server_name

    ids = await client.get_json(a.server_name, f"{base}/state_ids/{room_id}", {"event_id": topic.event_id})
    state = await a.stores.state.get_current_state_ids(room_id)
    # The state at the topic event is the state before it.
    assert topic.event_id not in ids["pdu_ids"]
    assert set(ids["pdu_ids"]) == set(state.values()) - {topic.event_id}
    full = await client.get_json(a.server_name, f"{base}/state/{room_id}", {"event_id": message.event_id})
    assert {p["type"] for p in full["pdus"]} >= {"m.room.create", "m.room.member", "m.room.topic"}
    assert full["auth_chain"]

    auth = await client.get_json(a.server_name, f"{base}/event_auth/{room_id}/{message.event_id}")
    assert {p["type"] for p in auth["auth_chain"]} >= {"m.room.power_levels", "m.room.member"}

    missing = await client.post_json(
        a.server_name,
        f"{base}/get_missing_events/{room_id}",
        {"earliest_events": [topic.prev_event_ids[0]], "latest_events": [message.event_id], "limit": 10},
    )
    assert [p["content"] for p in missing["events"]] == [{"topic": "t"}]


async def test_read_endpoints_refuse_servers_outside_the_room(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice = f"@alice:{a.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "private_chat"})
    message = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "secret"}))
    base = "/_matrix/federation/v1"
    for path, query in [
        (f"{base}/event/{message.event_id}", None),
        (f"{base}/state_ids/{room_id}", {"event_id": message.event_id}),
        (f"{base}/event_auth/{room_id}/{message.event_id}", None),
    ]:
        with pytest.raises(FederationHttpError) as caught:
            await b.federation.client.get_json(a.server_name, path, query)
        assert (caught.value.status, caught.value.errcode) == (403, "M_FORBIDDEN")


async def test_transaction_limits_and_idempotence(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    room_id, alice, bob = await shared_room(a, b)
    path = "/_matrix/federation/v1/send/{}"
    with pytest.raises(FederationHttpError) as caught:
        await b.federation.client.put_json(a.server_name, path.format("big"), {"pdus": [{}] * 51, "edus": []})
    assert caught.value.status == 400
    with pytest.raises(FederationHttpError):
        await b.federation.client.put_json(a.server_name, path.format("edus"), {"pdus": [], "edus": [{}] * 101})

    message = await b.sender.send(room_id, bob, EventDraft("m.room.message", {"body": "once"}))
    body = {"origin": b.server_name, "origin_server_ts": 0, "pdus": [message.pdu], "edus": []}
    first = await b.federation.client.put_json(a.server_name, path.format("t1"), body)
    again = await b.federation.client.put_json(a.server_name, path.format("t1"), body)
    assert first == again == {"pdus": {message.event_id: {}}}
    assert (await timeline_of(a, room_id)).count(message.event_id) == 1
