"""POST /user_directory/search over HTTP: matching, visibility, limits."""

from __future__ import annotations

from typing import Any

import aiohttp

from veche.homeserver import HomeServer
from veche.services.rooms.sending import EventDraft

from .conftest import TestUser

V3 = "/_matrix/client/v3"
SEARCH = f"{V3}/user_directory/search"


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any, user: TestUser) -> tuple[int, Any]:
    async with http.request(method, path, json=body, headers=user.headers) as response:
        return response.status, await response.json()


async def named_user(http: aiohttp.ClientSession, make_user: Any, localpart: str, name: str | None) -> TestUser:
    user = await make_user(localpart)
    if name is not None:
        status, _ = await call(http, "PUT", f"{V3}/profile/{user.user_id}/displayname", {"displayname": name}, user)
        assert status == 200
    return user


async def create_room(http: aiohttp.ClientSession, user: TestUser, **body: Any) -> str:
    status, result = await call(http, "POST", f"{V3}/createRoom", body, user)
    assert status == 200, result
    return result["room_id"]


async def join(homeserver: HomeServer, room_id: str, user: TestUser) -> None:
    await homeserver.sender.send(room_id, user.user_id, EventDraft("m.room.member", {"membership": "join"}, user.user_id))


async def search(http: aiohttp.ClientSession, user: TestUser, term: str, **extra: Any) -> dict[str, Any]:
    status, result = await call(http, "POST", SEARCH, {"search_term": term, **extra}, user)
    assert status == 200, result
    return result


def ids(result: dict[str, Any]) -> list[str]:
    return [entry["user_id"] for entry in result["results"]]


async def test_visibility_follows_shared_and_public_rooms(
    http: aiohttp.ClientSession, homeserver: HomeServer, make_user: Any
) -> None:
    alice = await named_user(http, make_user, "alice", "Alice")
    bob = await named_user(http, make_user, "bob", "Bob Smith")
    carol = await named_user(http, make_user, "carol", "Carol Smith")
    dave = await named_user(http, make_user, "dave", "Dave Smith")
    erin = await named_user(http, make_user, "erin", "Erin Smith")

    shared = await create_room(http, alice, preset="private_chat", invite=[bob.user_id])
    await join(homeserver, shared, bob)
    await create_room(http, carol, preset="public_chat")
    await create_room(http, dave, preset="private_chat")
    readable = await create_room(http, erin, preset="private_chat")
    status, _ = await call(
        http, "PUT", f"{V3}/rooms/{readable}/state/m.room.history_visibility",
        {"history_visibility": "world_readable"}, erin,
    )
    assert status == 200

    result = await search(http, alice, "smith")
    assert sorted(ids(result)) == [bob.user_id, carol.user_id, erin.user_id]
    assert result["limited"] is False
    bob_entry = next(e for e in result["results"] if e["user_id"] == bob.user_id)
    assert bob_entry == {"user_id": bob.user_id, "display_name": "Bob Smith"}

    # Once the room stops being public, its members are out of sight.
    status, _ = await call(
        http, "PUT", f"{V3}/rooms/{readable}/state/m.room.history_visibility", {"history_visibility": "shared"}, erin
    )
    assert status == 200
    assert erin.user_id not in ids(await search(http, alice, "smith"))
    # Dave sees only those in public rooms, and himself.
    assert sorted(ids(await search(http, dave, "smith"))) == [carol.user_id, dave.user_id]


async def test_matching_is_case_insensitive_prefix_of_words(
    http: aiohttp.ClientSession, make_user: Any
) -> None:
    alice = await named_user(http, make_user, "alice", "Alice")
    bob = await named_user(http, make_user, "bob.jones", "Robert Ünal-Smith")
    await create_room(http, bob, preset="public_chat")

    for term in ("rob", "ROBERT", "ünal", "ÜNAL-s", "smi", "rob smi", "bob", "jones", "@bob.j", "bob.jones:veche"):
        assert ids(await search(http, alice, term)) == [bob.user_id], term
    for term in ("obert", "mith", "rob xyz", "veche.test.other"):
        assert ids(await search(http, alice, term)) == [], term
    assert await search(http, alice, "   ") == {"results": [], "limited": False}


async def test_avatar_and_profile_changes_show_up(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await named_user(http, make_user, "alice", "Alice")
    bob = await named_user(http, make_user, "bob", "Bob")
    await create_room(http, bob, preset="public_chat")
    avatar = "mxc://veche.test/bob"
    await call(http, "PUT", f"{V3}/profile/{bob.user_id}/avatar_url", {"avatar_url": avatar}, bob)
    assert (await search(http, alice, "bob"))["results"] == [
        {"user_id": bob.user_id, "display_name": "Bob", "avatar_url": avatar}
    ]
    await call(http, "PUT", f"{V3}/profile/{bob.user_id}/displayname", {"displayname": "Zed"}, bob)
    assert ids(await search(http, alice, "zed")) == [bob.user_id]
    # The user ID still finds him once the old name is gone.
    assert (await search(http, alice, "bob"))["results"][0]["display_name"] == "Zed"


async def test_limit_and_deactivated_users(
    http: aiohttp.ClientSession, homeserver: HomeServer, make_user: Any
) -> None:
    alice = await named_user(http, make_user, "alice", "Alice")
    room = await create_room(http, alice, preset="public_chat")
    members = [await named_user(http, make_user, f"member{i}", f"Member {i}") for i in range(4)]
    for member in members:
        await join(homeserver, room, member)
    result = await search(http, alice, "member", limit=3)
    assert len(result["results"]) == 3 and result["limited"] is True
    result = await search(http, alice, "member", limit=4)
    assert len(result["results"]) == 4 and result["limited"] is False
    # Users with a display name come before those without.
    assert result["results"][0]["display_name"].startswith("Member")

    await homeserver.accounts.deactivate_account(members[0].user_id)
    assert members[0].user_id not in ids(await search(http, alice, "member"))


async def test_bad_requests(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await make_user("alice")
    for body in ({}, {"search_term": 5}, {"search_term": "a", "limit": -1}, {"search_term": "a", "limit": "3"}):
        status, error = await call(http, "POST", SEARCH, body, alice)
        assert (status, error["errcode"]) == (400, "M_INVALID_PARAM"), body
    async with http.post(SEARCH, json={"search_term": "a"}) as response:
        assert response.status == 401
