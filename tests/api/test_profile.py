"""Profiles over HTTP: fields, their rules, propagation into rooms, and deactivation."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from veche.homeserver import HomeServer
from veche.services.rooms.sending import EventDraft

from .conftest import TestUser

V3 = "/_matrix/client/v3"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_REGISTRATION": "open"}


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, user: TestUser | None = None
) -> tuple[int, Any]:
    headers = user.headers if user is not None else {}
    async with http.request(method, path, json=body, headers=headers) as response:
        return response.status, await response.json()


async def create_room(http: aiohttp.ClientSession, user: TestUser, **body: Any) -> str:
    status, result = await call(http, "POST", f"{V3}/createRoom", body, user)
    assert status == 200, result
    return result["room_id"]


async def join(homeserver: HomeServer, room_id: str, user: TestUser) -> None:
    await homeserver.sender.send(room_id, user.user_id, EventDraft("m.room.member", {"membership": "join"}, user.user_id))


async def member_content(homeserver: HomeServer, room_id: str, user_id: str) -> dict[str, Any]:
    event = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", user_id)
    assert event is not None
    return event.content


async def test_registration_gives_the_localpart_as_displayname(http: aiohttp.ClientSession) -> None:
    body = {"username": "carol", "password": "pw", "auth": {"type": "m.login.dummy"}}
    status, result = await call(http, "POST", f"{V3}/register", body)
    assert status == 200, result
    assert await call(http, "GET", f"{V3}/profile/@carol:veche.test") == (200, {"displayname": "carol"})


async def test_set_get_and_clear_displayname_and_avatar(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await make_user("alice")
    base = f"{V3}/profile/{alice.user_id}"
    assert await call(http, "GET", base) == (200, {})
    assert (await call(http, "GET", f"{base}/displayname"))[0] == 404
    assert await call(http, "PUT", f"{base}/displayname", {"displayname": "Alice"}, alice) == (200, {})
    avatar = "mxc://veche.test/abcDEF_12-3"
    assert await call(http, "PUT", f"{base}/avatar_url", {"avatar_url": avatar}, alice) == (200, {})
    assert await call(http, "GET", f"{base}/displayname") == (200, {"displayname": "Alice"})
    assert await call(http, "GET", f"{base}/avatar_url") == (200, {"avatar_url": avatar})
    assert await call(http, "GET", base) == (200, {"displayname": "Alice", "avatar_url": avatar})
    # An empty value removes the field, as clients have long done.
    assert (await call(http, "PUT", f"{base}/avatar_url", {"avatar_url": ""}, alice))[0] == 200
    assert await call(http, "DELETE", f"{base}/displayname", None, alice) == (200, {})
    assert await call(http, "GET", base) == (200, {})
    # Deleting what is not there is fine too.
    assert await call(http, "DELETE", f"{base}/displayname", None, alice) == (200, {})


@pytest.mark.parametrize(
    ("key", "body", "errcode"),
    [
        ("avatar_url", {"avatar_url": "https://example.org/a.png"}, "M_INVALID_PARAM"),
        ("avatar_url", {"avatar_url": "mxc://veche.test/"}, "M_INVALID_PARAM"),
        ("avatar_url", {"avatar_url": 5}, "M_BAD_JSON"),
        ("displayname", {"displayname": None}, "M_BAD_JSON"),
        ("displayname", {"displayname": "x" * 257}, "M_INVALID_PARAM"),
        ("displayname", {}, "M_MISSING_PARAM"),
        ("displayname", {"avatar_url": "mxc://veche.test/a"}, "M_MISSING_PARAM"),
        ("displayname", {"displayname": "A", "extra": 1}, "M_BAD_JSON"),
        ("m.tz", {"m.tz": 1}, "M_BAD_JSON"),
        ("m.other", {"m.other": "x"}, "M_INVALID_PARAM"),
        ("nodot", {"nodot": "x"}, "M_INVALID_PARAM"),
        ("Com.Example", {"Com.Example": "x"}, "M_INVALID_PARAM"),
        ("com." + "a" * 252, {"com." + "a" * 252: "x"}, "M_KEY_TOO_LARGE"),
        ("com.example.big", {"com.example.big": "x" * 70_000}, "M_PROFILE_TOO_LARGE"),
    ],
)
async def test_bad_fields_are_refused(
    http: aiohttp.ClientSession, make_user: Any, key: str, body: dict[str, Any], errcode: str
) -> None:
    alice = await make_user("alice")
    status, error = await call(http, "PUT", f"{V3}/profile/{alice.user_id}/{key}", body, alice)
    assert (status, error["errcode"]) == (400, errcode)


async def test_custom_fields(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await make_user("alice")
    base = f"{V3}/profile/{alice.user_id}"
    value = {"nested": [1, "two", None], "ok": True}
    assert (await call(http, "PUT", f"{base}/m.tz", {"m.tz": "Europe/London"}, alice))[0] == 200
    assert (await call(http, "PUT", f"{base}/org.example.mood", {"org.example.mood": value}, alice))[0] == 200
    assert (await call(http, "PUT", f"{base}/org.example.nothing", {"org.example.nothing": None}, alice))[0] == 200
    assert await call(http, "GET", f"{base}/org.example.mood") == (200, {"org.example.mood": value})
    # A stored null is a value, not a deletion.
    assert await call(http, "GET", f"{base}/org.example.nothing") == (200, {"org.example.nothing": None})
    assert await call(http, "GET", base) == (
        200, {"m.tz": "Europe/London", "org.example.mood": value, "org.example.nothing": None}
    )
    assert (await call(http, "DELETE", f"{base}/org.example.mood", None, alice))[0] == 200
    assert (await call(http, "GET", f"{base}/org.example.mood"))[0] == 404
    # Filling the profile up to the limit with one field, then growing another, is refused.
    big = {"org.example.big": "x" * 60_000}
    assert (await call(http, "PUT", f"{base}/org.example.big", big, alice))[0] == 200
    status, error = await call(http, "PUT", f"{base}/org.example.more", {"org.example.more": "y" * 6000}, alice)
    assert (status, error["errcode"]) == (400, "M_PROFILE_TOO_LARGE")


async def test_only_your_own_profile_and_known_users(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    for method, body in (("PUT", {"displayname": "Not Bob"}), ("DELETE", None)):
        status, error = await call(http, method, f"{V3}/profile/{bob.user_id}/displayname", body, alice)
        assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    status, error = await call(http, "PUT", f"{V3}/profile/{alice.user_id}/displayname", {"displayname": "A"})
    assert (status, error["errcode"]) == (401, "M_MISSING_TOKEN")
    for user_id in ("@nobody:veche.test", "@someone:elsewhere.test"):
        status, error = await call(http, "GET", f"{V3}/profile/{user_id}")
        assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    status, error = await call(http, "GET", f"{V3}/profile/not-a-user")
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")


async def test_displayname_change_reaches_every_joined_room(
    http: aiohttp.ClientSession, homeserver: HomeServer, make_user: Any
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rooms = [await create_room(http, bob, preset="public_chat") for _ in range(3)]
    for room_id in rooms:
        await join(homeserver, room_id, alice)
    # Other keys of the member event survive the update.
    await homeserver.sender.send(
        rooms[0], alice.user_id,
        EventDraft("m.room.member", {"membership": "join", "org.example.flair": "x"}, alice.user_id),
    )
    invited_to = await create_room(http, bob, invite=[alice.user_id])

    base = f"{V3}/profile/{alice.user_id}"
    assert (await call(http, "PUT", f"{base}/displayname", {"displayname": "Alice"}, alice))[0] == 200
    assert (await call(http, "PUT", f"{base}/avatar_url", {"avatar_url": "mxc://veche.test/pic"}, alice))[0] == 200
    for room_id in rooms:
        content = await member_content(homeserver, room_id, alice.user_id)
        assert content["membership"] == "join"
        assert content["displayname"] == "Alice"
        assert content["avatar_url"] == "mxc://veche.test/pic"
    assert (await member_content(homeserver, rooms[0], alice.user_id))["org.example.flair"] == "x"
    assert (await member_content(homeserver, invited_to, alice.user_id))["membership"] == "invite"
    assert "displayname" not in await member_content(homeserver, invited_to, alice.user_id)

    # Removing a field removes it from the member events too; custom fields do not propagate.
    assert (await call(http, "DELETE", f"{base}/avatar_url", None, alice))[0] == 200
    assert (await call(http, "PUT", f"{base}/m.tz", {"m.tz": "UTC"}, alice))[0] == 200
    for room_id in rooms:
        content = await member_content(homeserver, room_id, alice.user_id)
        assert "avatar_url" not in content and "m.tz" not in content
        assert content["displayname"] == "Alice"


async def test_new_rooms_carry_the_profile(http: aiohttp.ClientSession, homeserver: HomeServer, make_user: Any) -> None:
    alice = await make_user("alice")
    await call(http, "PUT", f"{V3}/profile/{alice.user_id}/displayname", {"displayname": "Alice A."}, alice)
    room_id = await create_room(http, alice)
    assert (await member_content(homeserver, room_id, alice.user_id))["displayname"] == "Alice A."
    assert await homeserver.profiles.get_profile(alice.user_id) == {"displayname": "Alice A."}


async def test_deactivation_leaves_rooms_and_clears_the_profile(
    http: aiohttp.ClientSession, homeserver: HomeServer, make_user: Any
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await call(http, "PUT", f"{V3}/profile/{alice.user_id}/displayname", {"displayname": "Alice"}, alice)
    joined = await create_room(http, alice)
    invited = await create_room(http, bob, invite=[alice.user_id])

    status, challenge = await call(http, "POST", f"{V3}/account/deactivate", {}, alice)
    assert status == 401
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": alice.user_id},
        "password": alice.password,
        "session": challenge["session"],
    }
    status, _ = await call(http, "POST", f"{V3}/account/deactivate", {"auth": auth}, alice)
    assert status == 200
    for room_id in (joined, invited):
        assert (await member_content(homeserver, room_id, alice.user_id))["membership"] == "leave"
    assert (await call(http, "GET", f"{V3}/profile/{alice.user_id}"))[0] == 404
    assert await homeserver.profiles.get_profile(alice.user_id) == {}
    status, result = await call(http, "POST", f"{V3}/user_directory/search", {"search_term": "alice"}, bob)
    assert (status, result["results"]) == (200, [])
