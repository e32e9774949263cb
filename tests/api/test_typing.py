"""Typing notifications over HTTP."""

from __future__ import annotations

from tests.api.userdata_helpers import call, create_room, join, q


async def test_start_and_stop_typing(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob)
    typing = homeserver.user_data.typing
    since = homeserver.notifier.current_token
    path = f"/rooms/{q(room_id)}/typing/{q(alice.user_id)}"
    assert await call(http, "PUT", path, alice, {"typing": True, "timeout": 30000}) == (200, {})
    assert typing.typing_for_rooms([room_id], 0) == {
        room_id: {"type": "m.typing", "content": {"user_ids": [alice.user_id]}}
    }
    assert homeserver.notifier.has_changes_since(bob.user_id, since)
    started = typing.current_position()
    assert await call(http, "PUT", path, alice, {"typing": False}) == (200, {})
    assert typing.typing_for_rooms([room_id], started)[room_id]["content"]["user_ids"] == []


async def test_typing_errors(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    path = f"/rooms/{q(room_id)}/typing/{q(alice.user_id)}"
    for body in ({}, {"typing": "yes"}, {"typing": True, "timeout": "long"}, {"typing": True, "timeout": -5}):
        status, error = await call(http, "PUT", path, alice, body)
        assert (status, error["errcode"]) == (400, "M_BAD_JSON"), body
    status, error = await call(http, "PUT", path, alice, data=b"[")
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")
    # Someone else's typing state, or a room the requester is not in.
    status, error = await call(http, "PUT", path, bob, {"typing": True, "timeout": 1000})
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    status, error = await call(http, "PUT", f"/rooms/{q(room_id)}/typing/{q(bob.user_id)}", bob, {"typing": True})
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    status, error = await call(
        http, "PUT", f"/rooms/{q('!unknown:veche.test')}/typing/{q(alice.user_id)}", alice, {"typing": True}
    )
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    status, error = await call(http, "PUT", f"/rooms/nope/typing/{q(alice.user_id)}", alice, {"typing": True})
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    assert homeserver.user_data.typing.current_position() == 0
