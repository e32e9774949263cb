"""Smaller endpoints of the completeness sweep: /admin/whois, /thirdparty/*, the
appservice-only endpoints and /v1/mutual_rooms."""

from __future__ import annotations

import aiohttp

from tests.api.reading_helpers import create_room

V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"


async def get(http: aiohttp.ClientSession, path: str, user, **params) -> tuple[int, dict]:
    async with http.get(path, headers=user.headers, params=params) as response:
        return response.status, await response.json()


async def join(http: aiohttp.ClientSession, user, room_id: str) -> None:
    async with http.post(f"{V3}/rooms/{room_id}/join", json={}, headers=user.headers) as response:
        assert response.status == 200, await response.text()


# /admin/whois


async def test_whois_self_shows_devices_and_last_use(http, make_user, homeserver):
    alice = await make_user("alice")
    await homeserver.accounts.record_device_seen(alice.user_id, alice.device_id, "10.0.0.2")
    await homeserver.accounts.create_device(alice.user_id, "NEVERUSED")
    status, body = await get(http, f"{V3}/admin/whois/{alice.user_id}", alice)
    assert status == 200
    assert body["user_id"] == alice.user_id
    (connection,) = body["devices"][alice.device_id]["sessions"][0]["connections"]
    assert connection["ip"] == "10.0.0.2" and isinstance(connection["last_seen"], int)
    assert body["devices"]["NEVERUSED"] == {"sessions": [{"connections": []}]}


async def test_whois_of_others_is_for_admins(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    admin = await make_user("root", admin=True)
    status, body = await get(http, f"{V3}/admin/whois/{bob.user_id}", alice)
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    # Refused before the lookup: an unknown user looks the same to a non-admin.
    status, body = await get(http, f"{V3}/admin/whois/@nobody:veche.test", alice)
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    status, body = await get(http, f"{V3}/admin/whois/{bob.user_id}", admin)
    assert status == 200 and bob.device_id in body["devices"]
    for unknown in ("@nobody:veche.test", "@bob:elsewhere.test"):
        status, body = await get(http, f"{V3}/admin/whois/{unknown}", admin)
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND")


# /thirdparty


async def test_no_third_party_protocols(http, make_user):
    alice = await make_user("alice")
    assert await get(http, f"{V3}/thirdparty/protocols", alice) == (200, {})
    for path, params in [
        ("/thirdparty/protocol/irc", {}),
        ("/thirdparty/location/irc", {"channel": "#matrix"}),
        ("/thirdparty/user/irc", {"nick": "alice"}),
        ("/thirdparty/location", {"alias": "#irc_matrix:veche.test"}),
        ("/thirdparty/user", {"userid": "@irc_alice:veche.test"}),
    ]:
        status, body = await get(http, V3 + path, alice, **params)
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND"), path
    status, body = await get(http, f"{V3}/thirdparty/location", alice)
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")
    async with http.get(f"{V3}/thirdparty/protocols") as response:
        assert response.status == 401


# appservice-only endpoints


async def test_appservice_endpoints_refuse_user_tokens(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    requests = [
        http.post(f"{V1}/appservice/bridge/ping", json={}, headers=alice.headers),
        http.put(f"{V3}/directory/list/appservice/irc/{room_id}", json={"visibility": "public"}, headers=alice.headers),
    ]
    for request in requests:
        async with request as response:
            assert response.status == 403
            assert (await response.json())["errcode"] == "M_FORBIDDEN"
    async with http.post(f"{V1}/appservice/bridge/ping", json={}) as response:
        assert response.status == 401


# /mutual_rooms


async def test_mutual_rooms(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    shared = await create_room(http, alice)
    await join(http, bob, shared)
    left = await create_room(http, alice)
    await join(http, bob, left)
    async with http.post(f"{V3}/rooms/{left}/leave", json={}, headers=bob.headers) as response:
        assert response.status == 200
    await create_room(http, alice)
    assert await get(http, f"{V1}/mutual_rooms", alice, user_id=bob.user_id) == (200, {"joined": [shared], "count": 1})
    assert await get(http, f"{V1}/mutual_rooms", bob, user_id=alice.user_id) == (200, {"joined": [shared], "count": 1})
    assert await get(http, f"{V1}/mutual_rooms", alice, user_id=carol.user_id) == (200, {"joined": [], "count": 0})
    # Not a user: an empty list, as the spec requires.
    assert await get(http, f"{V1}/mutual_rooms", alice, user_id="@ghost:veche.test") == (200, {"joined": [], "count": 0})


async def test_mutual_rooms_bad_requests(http, make_user):
    alice = await make_user("alice")
    cases = [
        ({}, "M_MISSING_PARAM"),
        ({"user_id": alice.user_id}, "M_INVALID_PARAM"),
        ({"user_id": "not a user"}, "M_INVALID_PARAM"),
        ({"user_id": "@Historical:veche.test"}, "M_INVALID_PARAM"),
        ({"user_id": "@bob:veche.test", "from": "nonsense"}, "M_INVALID_PARAM"),
    ]
    for params, errcode in cases:
        status, body = await get(http, f"{V1}/mutual_rooms", alice, **params)
        assert (status, body["errcode"]) == (400, errcode), params


# /room_summary


async def test_room_summary(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    public = await create_room(http, alice, name="Cheese", room_alias_name="cheese")
    status, body = await get(http, f"{V1}/room_summary/{public}", alice)
    assert status == 200
    assert body["room_id"] == public and body["name"] == "Cheese" and body["membership"] == "join"
    assert body["join_rule"] == "public" and body["num_joined_members"] == 1 and "room_version" in body
    status, body = await get(http, f"{V1}/room_summary/%23cheese:veche.test", bob)
    assert status == 200 and body["room_id"] == public and "membership" not in body
    # A public room may be summarised without authentication.
    async with http.get(f"{V1}/room_summary/{public}") as response:
        assert response.status == 200 and "membership" not in await response.json()
    private = await create_room(http, alice, preset="private_chat")
    for path, user in ((private, bob), ("!unknown:veche.test", alice), ("%23nope:veche.test", alice)):
        status, body = await get(http, f"{V1}/room_summary/{path}", user)
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND"), path
    async with http.get(f"{V1}/room_summary/{private}") as response:
        assert response.status == 404
