"""An everyday conversation between two matrix-nio clients (PyPI `matrix-nio`) on Veche:
registration, a room, invites, messages through /sync, edits, reactions, redactions,
typing, receipts, profile changes, /messages pagination, leaving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

nio = pytest.importorskip("nio")


@pytest.fixture
async def clients(base_url: str, tmp_path) -> AsyncIterator[tuple[nio.AsyncClient, nio.AsyncClient]]:
    made = []
    for name in ("alice", "bob"):
        client = nio.AsyncClient(base_url, store_path=str(tmp_path))
        response = await client.register(name, f"{name} password", device_name=f"{name}'s nio")
        assert isinstance(response, nio.RegisterResponse), response
        made.append(client)
    try:
        yield made[0], made[1]
    finally:
        for client in made:
            await client.close()


async def sync_until(client: nio.AsyncClient, predicate, timeout: float = 10.0):
    """Sync until `predicate(response)` holds; returns that response."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        response = await client.sync(timeout=2000)
        assert isinstance(response, nio.SyncResponse), response
        if predicate(response):
            return response
    raise AssertionError(f"{client.user_id} never saw what it waited for")


def timeline(response: nio.SyncResponse, room_id: str) -> list:
    room = response.rooms.join.get(room_id)
    return room.timeline.events if room else []


def ephemeral(response: nio.SyncResponse, room_id: str) -> list:
    room = response.rooms.join.get(room_id)
    return room.ephemeral if room else []


async def test_everyday_conversation(clients):
    alice, bob = clients
    await alice.sync()
    await bob.sync()

    created = await alice.room_create(name="Tea room", topic="Biscuits")
    assert isinstance(created, nio.RoomCreateResponse), created
    room_id = created.room_id
    assert isinstance(await alice.room_invite(room_id, bob.user_id), nio.RoomInviteResponse)
    await sync_until(bob, lambda r: room_id in r.rooms.invite)
    assert isinstance(await bob.join(room_id), nio.JoinResponse)
    await sync_until(alice, lambda r: any(
        isinstance(e, nio.RoomMemberEvent) and e.state_key == bob.user_id and e.membership == "join"
        for e in timeline(r, room_id)
    ))

    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "Hello Bob"})
    assert isinstance(sent, nio.RoomSendResponse), sent
    got = await sync_until(bob, lambda r: any(
        isinstance(e, nio.RoomMessageText) and e.body == "Hello Bob" for e in timeline(r, room_id)
    ))
    assert bob.rooms[room_id].display_name == "Tea room"
    hello = next(e for e in timeline(got, room_id) if isinstance(e, nio.RoomMessageText))
    assert hello.sender == alice.user_id and hello.event_id == sent.event_id

    reply = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "Hi Alice"})
    assert isinstance(reply, nio.RoomSendResponse)
    await sync_until(alice, lambda r: any(getattr(e, "body", None) == "Hi Alice" for e in timeline(r, room_id)))

    edit = {
        "msgtype": "m.text", "body": "* Hello, Bob",
        "m.new_content": {"msgtype": "m.text", "body": "Hello, Bob"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": sent.event_id},
    }
    assert isinstance(await alice.room_send(room_id, "m.room.message", edit), nio.RoomSendResponse)
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": reply.event_id, "key": "👍"}}
    assert isinstance(await alice.room_send(room_id, "m.reaction", reaction), nio.RoomSendResponse)
    await sync_until(bob, lambda r: any(
        isinstance(e, nio.ReactionEvent) and e.key == "👍" for e in timeline(r, room_id)
    ))

    oops = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "oops"})
    assert isinstance(await bob.room_redact(room_id, oops.event_id, reason="typo"), nio.RoomRedactResponse)
    await sync_until(alice, lambda r: any(
        isinstance(e, nio.RedactionEvent) and e.redacts == oops.event_id for e in timeline(r, room_id)
    ))

    assert isinstance(await bob.room_typing(room_id, True, timeout=10000), nio.RoomTypingResponse)
    await sync_until(alice, lambda r: any(
        isinstance(e, nio.TypingNoticeEvent) and bob.user_id in e.users for e in ephemeral(r, room_id)
    ))
    assert isinstance(await bob.update_receipt_marker(room_id, sent.event_id), nio.UpdateReceiptMarkerResponse)
    await sync_until(alice, lambda r: any(
        isinstance(e, nio.ReceiptEvent) and any(rc.user_id == bob.user_id for rc in e.receipts)
        for e in ephemeral(r, room_id)
    ))

    assert isinstance(await bob.set_displayname("Bobby"), nio.ProfileSetDisplayNameResponse)
    await sync_until(alice, lambda r: any(
        isinstance(e, nio.RoomMemberEvent) and e.state_key == bob.user_id
        and (e.content or {}).get("displayname") == "Bobby"
        for e in timeline(r, room_id)
    ))
    assert (await alice.get_displayname(bob.user_id)).displayname == "Bobby"

    for i in range(25):
        assert isinstance(
            await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": f"n{i}"}),
            nio.RoomSendResponse,
        )
    bodies: list[str] = []
    start = None
    for _ in range(10):
        page = await bob.room_messages(room_id, start=start, limit=10)
        assert isinstance(page, nio.RoomMessagesResponse), page
        bodies += [e.body for e in page.chunk if isinstance(e, nio.RoomMessageText)]
        if not page.end or not page.chunk:
            break
        start = page.end
    assert bodies[:25] == [f"n{i}" for i in reversed(range(25))]
    assert "Hi Alice" in bodies

    assert isinstance(await bob.room_leave(room_id), nio.RoomLeaveResponse)
    await sync_until(alice, lambda r: any(
        isinstance(e, nio.RoomMemberEvent) and e.state_key == bob.user_id and e.membership == "leave"
        for e in timeline(r, room_id)
    ))
