"""Account data over HTTP: global and per room, ownership, server-managed types, ignored users."""

from __future__ import annotations

from tests.api.userdata_helpers import call, q

ROOM = "!someroom:veche.test"


async def test_global_round_trip(http, make_user) -> None:
    alice = await make_user("alice")
    path = f"/user/{q(alice.user_id)}/account_data/org.example.config"
    assert await call(http, "GET", path, alice) == (404, {"errcode": "M_NOT_FOUND", "error": "Account data not found"})
    assert await call(http, "PUT", path, alice, {"theme": "dark"}) == (200, {})
    assert await call(http, "GET", path, alice) == (200, {"theme": "dark"})
    assert await call(http, "PUT", path, alice, {"theme": "light"}) == (200, {})
    assert await call(http, "GET", path, alice) == (200, {"theme": "light"})


async def test_room_account_data_is_separate_from_global(http, make_user) -> None:
    alice = await make_user("alice")
    room_path = f"/user/{q(alice.user_id)}/rooms/{q(ROOM)}/account_data/org.example.x"
    global_path = f"/user/{q(alice.user_id)}/account_data/org.example.x"
    assert (await call(http, "PUT", room_path, alice, {"n": 1}))[0] == 200
    assert await call(http, "GET", room_path, alice) == (200, {"n": 1})
    assert (await call(http, "GET", global_path, alice))[0] == 404
    other_room = f"/user/{q(alice.user_id)}/rooms/{q('!other:veche.test')}/account_data/org.example.x"
    status, body = await call(http, "GET", other_room, alice)
    assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


async def test_other_users_data_is_forbidden(http, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    for path in (
        f"/user/{q(bob.user_id)}/account_data/org.example.x",
        f"/user/{q(bob.user_id)}/rooms/{q(ROOM)}/account_data/org.example.x",
    ):
        for method, body in (("PUT", {"a": 1}), ("GET", None)):
            status, error = await call(http, method, path, alice, body)
            assert (status, error["errcode"]) == (403, "M_FORBIDDEN")


async def test_server_managed_types_are_refused(http, make_user) -> None:
    alice = await make_user("alice")
    for data_type in ("m.fully_read", "m.push_rules"):
        for path in (
            f"/user/{q(alice.user_id)}/account_data/{data_type}",
            f"/user/{q(alice.user_id)}/rooms/{q(ROOM)}/account_data/{data_type}",
        ):
            status, error = await call(http, "PUT", path, alice, {"event_id": "$x"})
            assert (status, error["errcode"]) == (405, "M_BAD_JSON")


async def test_bad_bodies_and_room_ids(http, make_user) -> None:
    alice = await make_user("alice")
    path = f"/user/{q(alice.user_id)}/account_data/org.example.x"
    status, error = await call(http, "PUT", path, alice, data=b"not json")
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")
    status, error = await call(http, "PUT", path, alice, [1, 2])
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")
    bad_room = f"/user/{q(alice.user_id)}/rooms/{q('@notaroom:veche.test')}/account_data/org.example.x"
    for method, body in (("PUT", {}), ("GET", None)):
        status, error = await call(http, method, bad_room, alice, body)
        assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    status, error = await call(http, "GET", path)
    assert (status, error["errcode"]) == (401, "M_MISSING_TOKEN")


async def test_ignored_user_list(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    path = f"/user/{q(alice.user_id)}/account_data/m.ignored_user_list"
    service = homeserver.user_data.account_data
    assert await service.get_ignored_users(alice.user_id) == frozenset()
    for bad in ({}, {"ignored_users": []}, {"ignored_users": {"bob": {}}}, {"ignored_users": {"@bob:x": 1}}):
        status, error = await call(http, "PUT", path, alice, bad)
        assert (status, error["errcode"]) == (400, "M_BAD_JSON"), bad
    assert (await call(http, "PUT", path, alice, {"ignored_users": {"@bob:veche.test": {}}}))[0] == 200
    assert await service.get_ignored_users(alice.user_id) == frozenset({"@bob:veche.test"})
    assert (await call(http, "PUT", path, alice, {"ignored_users": {}}))[0] == 200
    assert await service.get_ignored_users(alice.user_id) == frozenset()


async def test_changes_for_sync(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    service = homeserver.user_data.account_data
    notifier = homeserver.notifier
    since = notifier.current_token
    await call(http, "PUT", f"/user/{q(alice.user_id)}/account_data/a.one", alice, {"v": 1})
    assert notifier.has_changes_since(alice.user_id, since)
    middle = service.current_position()
    await call(http, "PUT", f"/user/{q(alice.user_id)}/rooms/{q(ROOM)}/account_data/a.two", alice, {"v": 2})
    assert await service.get_global_changes(alice.user_id, 0, service.current_position()) == {"a.one": {"v": 1}}
    assert await service.get_global_changes(alice.user_id, middle, service.current_position()) == {}
    assert await service.get_room_changes(alice.user_id, middle, service.current_position()) == {
        ROOM: {"a.two": {"v": 2}}
    }
