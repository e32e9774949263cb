"""GET /v1/rooms/{roomId}/hierarchy over HTTP: nested spaces, order, permissions, paging."""

from __future__ import annotations

from typing import Any

import aiohttp

from veche.homeserver import HomeServer
from veche.services.rooms.sending import EventDraft

from .conftest import TestUser

V3 = "/_matrix/client/v3"


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any, user: TestUser) -> tuple[int, Any]:
    async with http.request(method, path, json=body, headers=user.headers) as response:
        return response.status, await response.json()


async def create_room(http: aiohttp.ClientSession, user: TestUser, **body: Any) -> str:
    status, result = await call(http, "POST", f"{V3}/createRoom", body, user)
    assert status == 200, result
    return result["room_id"]


async def put_state(http: aiohttp.ClientSession, user: TestUser, room_id: str, path: str, content: Any) -> None:
    status, result = await call(http, "PUT", f"{V3}/rooms/{room_id}/state/{path}", content, user)
    assert status == 200, result


async def add_child(http: aiohttp.ClientSession, user: TestUser, space: str, child: str, **content: Any) -> None:
    await put_state(http, user, space, f"m.space.child/{child}", {"via": ["veche.test"], **content})


async def hierarchy(
    http: aiohttp.ClientSession, user: TestUser, room_id: str, **params: str
) -> tuple[int, dict[str, Any]]:
    async with http.get(
        f"/_matrix/client/v1/rooms/{room_id}/hierarchy", params=params, headers=user.headers
    ) as response:
        return response.status, await response.json()


def room_ids(result: dict[str, Any]) -> list[str]:
    return [room["room_id"] for room in result["rooms"]]


async def build_tree(http: aiohttp.ClientSession, alice: TestUser) -> dict[str, str]:
    """space ─┬ a (public, suggested)
              ├ sub (space) ─┬ b (public)
              │              ├ private (invite only)
              │              └ space (a loop)
              ├ restricted (members of space may join)
              ├ unknown (a room this server does not hold)
              └ knock
    """
    space_type = {"creation_content": {"type": "m.space"}}
    rooms = {
        "space": await create_room(http, alice, preset="public_chat", name="Space", **space_type),
        "a": await create_room(http, alice, preset="public_chat", name="A", topic="About A"),
        "sub": await create_room(http, alice, preset="public_chat", name="Sub", **space_type),
        "b": await create_room(http, alice, preset="public_chat", name="B"),
        "private": await create_room(http, alice, preset="private_chat", name="Private"),
        "restricted": await create_room(http, alice, preset="private_chat", room_version="10"),
        "knock": await create_room(http, alice, preset="private_chat", room_version="10"),
    }
    rooms["unknown"] = "!unknown:veche.test"
    await put_state(http, alice, rooms["restricted"], "m.room.join_rules", {
        "join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": rooms["space"]}],
    })
    await put_state(http, alice, rooms["knock"], "m.room.join_rules", {"join_rule": "knock"})
    await add_child(http, alice, rooms["space"], rooms["a"], order="a", suggested=True)
    await add_child(http, alice, rooms["space"], rooms["sub"], order="b")
    await add_child(http, alice, rooms["space"], rooms["restricted"], order="c")
    await add_child(http, alice, rooms["space"], rooms["unknown"], order="d")
    await add_child(http, alice, rooms["space"], rooms["knock"])
    await add_child(http, alice, rooms["sub"], rooms["b"], order="a")
    await add_child(http, alice, rooms["sub"], rooms["private"], order="b")
    await add_child(http, alice, rooms["sub"], rooms["space"], order="c")
    return rooms


async def test_walks_nested_spaces_depth_first_with_permissions(
    http: aiohttp.ClientSession, homeserver: HomeServer, make_user: Any
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rooms = await build_tree(http, alice)
    r = rooms

    status, result = await hierarchy(http, alice, r["space"])
    assert status == 200, result
    assert room_ids(result) == [r["space"], r["a"], r["sub"], r["b"], r["private"], r["restricted"], r["knock"]]
    assert "next_batch" not in result
    space = result["rooms"][0]
    assert space["room_type"] == "m.space" and space["name"] == "Space" and space["join_rule"] == "public"
    assert space["num_joined_members"] == 1 and space["world_readable"] is False
    assert space["guest_can_join"] is False and space["room_version"]
    assert [child["state_key"] for child in space["children_state"]] == [
        r["a"], r["sub"], r["restricted"], r["unknown"], r["knock"]
    ]
    first = space["children_state"][0]
    assert first["type"] == "m.space.child" and first["sender"] == alice.user_id
    assert first["content"] == {"via": ["veche.test"], "order": "a", "suggested": True}
    assert isinstance(first["origin_server_ts"], int)
    a = result["rooms"][1]
    assert a["topic"] == "About A" and a["children_state"] == [] and "room_type" not in a
    restricted = result["rooms"][5]
    assert restricted["join_rule"] == "restricted" and restricted["allowed_room_ids"] == [r["space"]]

    # Bob may see public rooms and knockable ones; the restricted room once he is in the space.
    status, result = await hierarchy(http, bob, r["space"])
    assert room_ids(result) == [r["space"], r["a"], r["sub"], r["b"], r["knock"]]
    await homeserver.sender.send(r["space"], bob.user_id, EventDraft("m.room.member", {"membership": "join"}, bob.user_id))
    status, result = await hierarchy(http, bob, r["space"])
    assert room_ids(result) == [r["space"], r["a"], r["sub"], r["b"], r["restricted"], r["knock"]]
    assert result["rooms"][0]["num_joined_members"] == 2

    # A child whose link lost its `via` is no longer part of the space.
    await put_state(http, alice, r["space"], f"m.space.child/{r['knock']}", {})
    assert r["knock"] not in room_ids((await hierarchy(http, bob, r["space"]))[1])


async def test_depth_suggested_only_and_pagination(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await make_user("alice")
    r = await build_tree(http, alice)

    _, result = await hierarchy(http, alice, r["space"], max_depth="1")
    assert room_ids(result) == [r["space"], r["a"], r["sub"], r["restricted"], r["knock"]]
    # The sub-space still lists its children, though they are not walked.
    assert len(result["rooms"][2]["children_state"]) == 3
    _, result = await hierarchy(http, alice, r["space"], max_depth="0")
    assert room_ids(result) == [r["space"]]
    _, result = await hierarchy(http, alice, r["space"], suggested_only="true")
    assert room_ids(result) == [r["space"], r["a"]]
    assert [c["state_key"] for c in result["rooms"][0]["children_state"]] == [r["a"]]

    seen: list[str] = []
    params: dict[str, str] = {"limit": "3"}
    while True:
        status, page = await hierarchy(http, alice, r["space"], **params)
        assert status == 200 and len(page["rooms"]) <= 3
        seen += room_ids(page)
        if "next_batch" not in page:
            break
        params = {"limit": "3", "from": page["next_batch"]}
    assert seen == [r["space"], r["a"], r["sub"], r["b"], r["private"], r["restricted"], r["knock"]]

    _, page = await hierarchy(http, alice, r["space"], limit="2")
    status, error = await hierarchy(http, alice, r["space"], **{"from": page["next_batch"], "max_depth": "1"})
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
    status, error = await hierarchy(http, alice, r["space"], **{"from": "nonsense"})
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")


async def test_forbidden_and_bad_requests(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    private = await create_room(http, alice, preset="private_chat", creation_content={"type": "m.space"})
    for room_id in (private, "!nowhere:veche.test"):
        status, error = await hierarchy(http, bob, room_id)
        assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
    for params in ({"limit": "0"}, {"limit": "x"}, {"max_depth": "-1"}, {"suggested_only": "yes"}):
        status, error = await hierarchy(http, alice, private, **params)
        assert (status, error["errcode"]) == (400, "M_INVALID_PARAM"), params
    status, error = await hierarchy(http, alice, "not-a-room")
    assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
