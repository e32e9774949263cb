"""Room tags over HTTP: they are the room's m.tag account data."""

from __future__ import annotations

from tests.api.userdata_helpers import call, q

ROOM = "!tagged:veche.test"


async def test_add_list_remove(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    base = f"/user/{q(alice.user_id)}/rooms/{q(ROOM)}/tags"
    assert await call(http, "GET", base, alice) == (200, {"tags": {}})
    assert await call(http, "PUT", f"{base}/m.favourite", alice, {"order": 0.25}) == (200, {})
    assert await call(http, "PUT", f"{base}/u.work", alice, {}) == (200, {})
    assert await call(http, "GET", base, alice) == (200, {"tags": {"m.favourite": {"order": 0.25}, "u.work": {}}})
    changes = await homeserver.user_data.account_data.get_room_changes(alice.user_id, 0)
    assert changes[ROOM]["m.tag"] == {"tags": {"m.favourite": {"order": 0.25}, "u.work": {}}}
    assert await call(http, "DELETE", f"{base}/m.favourite", alice) == (200, {})
    assert await call(http, "DELETE", f"{base}/never.set", alice) == (200, {})
    assert await call(http, "GET", base, alice) == (200, {"tags": {"u.work": {}}})
    path = f"/user/{q(alice.user_id)}/rooms/{q(ROOM)}/account_data/m.tag"
    assert await call(http, "GET", path, alice) == (200, {"tags": {"u.work": {}}})


async def test_tag_names_with_special_characters(http, make_user) -> None:
    alice = await make_user("alice")
    base = f"/user/{q(alice.user_id)}/rooms/{q(ROOM)}/tags"
    assert (await call(http, "PUT", f"{base}/{q('u.a/b c')}", alice, {}))[0] == 200
    assert await call(http, "GET", base, alice) == (200, {"tags": {"u.a/b c": {}}})


async def test_invalid_requests(http, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    base = f"/user/{q(alice.user_id)}/rooms/{q(ROOM)}/tags"
    for body, errcode in (({"order": "first"}, "M_BAD_JSON"), ({"order": 2}, "M_INVALID_PARAM")):
        status, error = await call(http, "PUT", f"{base}/u.x", alice, body)
        assert (status, error["errcode"]) == (400, errcode)
    status, error = await call(http, "PUT", f"{base}/{'u' * 256}", alice, {})
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    status, error = await call(http, "PUT", f"{base}/u.x", alice, data=b"{")
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")
    for method, body in (("GET", None), ("PUT", {}), ("DELETE", None)):
        path = base if method == "GET" else f"{base}/u.x"
        status, error = await call(http, method, path, bob, body)
        assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    status, error = await call(http, "GET", f"/user/{q(alice.user_id)}/rooms/notaroom/tags", alice)
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
