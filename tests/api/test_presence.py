"""Presence over HTTP."""

from __future__ import annotations

from tests.api.userdata_helpers import call, create_room, join, q


async def test_set_and_get_own_presence(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    path = f"/presence/{q(alice.user_id)}/status"
    assert await call(http, "GET", path, alice) == (200, {"presence": "offline"})
    assert await call(http, "PUT", path, alice, {"presence": "online", "status_msg": "hi"}) == (200, {})
    status, body = await call(http, "GET", path, alice)
    assert status == 200
    assert body["presence"] == "online"
    assert body["status_msg"] == "hi"
    assert body["currently_active"] is True
    assert isinstance(body["last_active_ago"], int)
    assert await call(http, "PUT", path, alice, {"presence": "unavailable"}) == (200, {})
    status, body = await call(http, "GET", path, alice)
    assert body["presence"] == "unavailable" and "status_msg" not in body


async def test_presence_is_shared_with_room_members(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob)
    since = homeserver.notifier.current_token
    path = f"/presence/{q(alice.user_id)}/status"
    assert (await call(http, "PUT", path, alice, {"presence": "online"}))[0] == 200
    assert homeserver.notifier.has_changes_since(bob.user_id, since)
    assert not homeserver.notifier.has_changes_since(carol.user_id, since)
    assert (await call(http, "GET", path, bob))[1]["presence"] == "online"
    status, error = await call(http, "GET", path, carol)
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    events = await homeserver.user_data.presence.presence_for_user(bob.user_id, since.presence)
    assert [(e["type"], e["sender"], e["content"]["presence"]) for e in events] == [
        ("m.presence", alice.user_id, "online")
    ]


async def test_presence_errors(http, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    path = f"/presence/{q(alice.user_id)}/status"
    for body in ({}, {"presence": "busy"}, {"presence": "online", "status_msg": 3}):
        status, error = await call(http, "PUT", path, alice, body)
        assert (status, error["errcode"]) == (400, "M_BAD_JSON"), body
    status, error = await call(http, "PUT", path, alice, data=b"x")
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")
    status, error = await call(http, "PUT", path, bob, {"presence": "online"})
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    nobody = f"/presence/{q('@nobody:veche.test')}/status"
    status, error = await call(http, "GET", nobody, alice)
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
