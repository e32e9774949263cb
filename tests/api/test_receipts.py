"""Receipts and read markers over HTTP."""

from __future__ import annotations

from tests.api.userdata_helpers import call, create_room, join, q, send_text


async def room_with_messages(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob)
    first = await send_text(http, alice, room_id, "one")
    second = await send_text(http, alice, room_id, "two")
    return alice, bob, room_id, first, second


async def test_read_receipt_reaches_the_room(http, homeserver, make_user) -> None:
    alice, bob, room_id, first, _ = await room_with_messages(http, homeserver, make_user)
    receipts = homeserver.user_data.receipts
    since = homeserver.notifier.current_token
    assert await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(first)}", bob, {}) == (200, {})
    assert homeserver.notifier.has_changes_since(alice.user_id, since)
    event = (await receipts.receipts_for_rooms(alice.user_id, [room_id], 0))[room_id]
    assert event["type"] == "m.receipt"
    assert set(event["content"][first]["m.read"]) == {bob.user_id}
    assert isinstance(event["content"][first]["m.read"][bob.user_id]["ts"], int)
    assert await receipts.get_read_receipt(room_id, bob.user_id) == first


async def test_threaded_and_private_receipts(http, homeserver, make_user) -> None:
    alice, bob, room_id, first, second = await room_with_messages(http, homeserver, make_user)
    reply = await send_text(
        http, alice, room_id, "in thread", **{"m.relates_to": {"rel_type": "m.thread", "event_id": first}}
    )
    receipts = homeserver.user_data.receipts
    base = f"/rooms/{q(room_id)}/receipt"
    assert (await call(http, "POST", f"{base}/m.read/{q(reply)}", bob, {"thread_id": first}))[0] == 200
    assert (await call(http, "POST", f"{base}/m.read/{q(second)}", bob, {"thread_id": "main"}))[0] == 200
    assert (await call(http, "POST", f"{base}/m.read.private/{q(second)}", bob, {}))[0] == 200
    content = (await receipts.receipts_for_rooms(bob.user_id, [room_id], 0))[room_id]["content"]
    assert content[reply]["m.read"][bob.user_id]["thread_id"] == first
    assert content[second]["m.read"][bob.user_id]["thread_id"] == "main"
    assert bob.user_id in content[second]["m.read.private"]
    seen_by_alice = (await receipts.receipts_for_rooms(alice.user_id, [room_id], 0))[room_id]["content"]
    assert "m.read.private" not in seen_by_alice[second]
    status, error = await call(http, "POST", f"{base}/m.read/{q(reply)}", bob, {"thread_id": "main"})
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")


async def test_receipt_errors(http, homeserver, make_user) -> None:
    alice, bob, room_id, first, _ = await room_with_messages(http, homeserver, make_user)
    carol = await make_user("carol")
    base = f"/rooms/{q(room_id)}/receipt"
    for body in ({"thread_id": ""}, {"thread_id": 5}):
        status, error = await call(http, "POST", f"{base}/m.read/{q(first)}", bob, body)
        assert (status, error["errcode"]) == (400, "M_INVALID_PARAM"), body
    status, error = await call(http, "POST", f"{base}/m.fully_read/{q(first)}", bob, {"thread_id": "main"})
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    status, error = await call(http, "POST", f"{base}/m.unknown/{q(first)}", bob, {})
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    status, error = await call(http, "POST", f"{base}/m.read/{q('$missing')}", bob, {})
    assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    status, error = await call(http, "POST", f"{base}/m.read/{q(first)}", carol, {})
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    status, error = await call(http, "POST", f"{base}/m.read/{q(first)}", bob, data=b"{{")
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")
    # A body-less request, as older clients send, is an unthreaded receipt.
    status, _ = await call(http, "POST", f"{base}/m.read/{q(first)}", bob)
    assert status == 200


async def test_read_markers(http, homeserver, make_user) -> None:
    alice, bob, room_id, first, second = await room_with_messages(http, homeserver, make_user)
    path = f"/rooms/{q(room_id)}/read_markers"
    body = {"m.fully_read": first, "m.read": first, "m.read.private": second}
    assert await call(http, "POST", path, bob, body) == (200, {})
    marker = f"/user/{q(bob.user_id)}/rooms/{q(room_id)}/account_data/m.fully_read"
    assert await call(http, "GET", marker, bob) == (200, {"event_id": first})
    receipts = homeserver.user_data.receipts
    assert await receipts.get_read_receipt(room_id, bob.user_id) == second
    # The receipt endpoint moves the marker too; it never moves back.
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.fully_read/{q(second)}", bob, {}))[0] == 200
    assert await call(http, "GET", marker, bob) == (200, {"event_id": second})
    assert (await call(http, "POST", path, bob, {"m.fully_read": first}))[0] == 200
    assert await call(http, "GET", marker, bob) == (200, {"event_id": second})
    changes = await homeserver.user_data.account_data.get_room_changes(bob.user_id, 0)
    assert changes[room_id]["m.fully_read"] == {"event_id": second}


async def test_read_marker_errors(http, homeserver, make_user) -> None:
    alice, bob, room_id, first, _ = await room_with_messages(http, homeserver, make_user)
    carol = await make_user("carol")
    path = f"/rooms/{q(room_id)}/read_markers"
    status, error = await call(http, "POST", path, bob, {"m.fully_read": 7})
    assert (status, error["errcode"]) == (400, "M_BAD_JSON")
    status, error = await call(http, "POST", path, bob, {"m.fully_read": "$nope", "m.read": first})
    assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    # Nothing moved: the request failed as a whole.
    assert await homeserver.user_data.receipts.get_read_receipt(room_id, bob.user_id) is None
    status, error = await call(http, "POST", path, carol, {"m.fully_read": first})
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
