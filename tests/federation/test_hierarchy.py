"""GET /_matrix/federation/v1/hierarchy/{roomId} between two Veche servers, and the rule
that decides which rooms a server may see."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from veche.homeserver import HomeServer
from veche.protocol.events import Event
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS
from veche.protocol.spaces import may_see_remote_summary, may_server_see_in_hierarchy, stripped_space_children

from .conftest import Certificate
from .query_helpers import V3, client_call, create_room, federation_call, impostor_key, make_user

HIERARCHY = "/_matrix/federation/v1/hierarchy"
DENY_LOOPBACK = {"allow": ["*"], "deny": ["127.0.0.1"]}


async def _put_state(hs: HomeServer, user: Any, room_id: str, event_type: str, state_key: str, content: Any) -> None:
    path = f"{V3}/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}"
    status, answer = await client_call(hs, "PUT", path, user, content)
    assert status == 200, answer


async def test_space_and_children_served(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    bob = await make_user(b, "bob")
    space = await create_room(b, bob, preset="public_chat", name="Space", creation_content={"type": "m.space"})
    public = await create_room(b, bob, preset="public_chat", name="Public")
    private = await create_room(b, bob, preset="private_chat", name="Private")
    banned = await create_room(b, bob, preset="public_chat", name="Banned")
    await _put_state(b, bob, banned, "m.room.server_acl", "", DENY_LOOPBACK)
    unknown = "!unknown:elsewhere.test"
    for child, extra in ((public, {"suggested": True}), (private, {}), (banned, {}), (unknown, {})):
        await _put_state(b, bob, space, "m.space.child", child, {"via": [b.server_name], **extra})

    status, answer = await federation_call(a, b, "GET", f"{HIERARCHY}/{quote(space)}", certificate)
    assert status == 200, answer
    room = answer["room"]
    assert (room["room_id"], room["name"], room["room_type"], room["join_rule"]) == (space, "Space", "m.space", "public")
    assert {c["state_key"] for c in room["children_state"]} == {public, private, banned, unknown}
    assert all("origin_server_ts" in c for c in room["children_state"])
    assert [c["room_id"] for c in answer["children"]] == [public]
    assert answer["children"][0]["children_state"] == []
    assert sorted(answer["inaccessible_children"]) == sorted([private, banned])

    status, answer = await federation_call(a, b, "GET", f"{HIERARCHY}/{quote(space)}?suggested_only=true", certificate)
    assert status == 200
    assert [c["state_key"] for c in answer["room"]["children_state"]] == [public]
    assert (answer["inaccessible_children"], [c["room_id"] for c in answer["children"]]) == ([], [public])

    # A room that is not a space has no children.
    status, answer = await federation_call(a, b, "GET", f"{HIERARCHY}/{quote(public)}", certificate)
    assert (status, answer["room"]["children_state"], answer["children"]) == (200, [], [])


async def test_hierarchy_errors(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    bob = await make_user(b, "bob")
    private = await create_room(b, bob, preset="private_chat", creation_content={"type": "m.space"})
    banned = await create_room(b, bob, preset="public_chat", creation_content={"type": "m.space"})
    await _put_state(b, bob, banned, "m.room.server_acl", "", DENY_LOOPBACK)
    for room_id in (private, "!nope:elsewhere.test"):
        status, answer = await federation_call(a, b, "GET", f"{HIERARCHY}/{quote(room_id)}", certificate)
        assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
    status, answer = await federation_call(a, b, "GET", f"{HIERARCHY}/{quote(banned)}", certificate)
    assert (status, answer["errcode"]) == (403, "M_FORBIDDEN")
    status, answer = await federation_call(a, b, "GET", f"{HIERARCHY}/{quote(banned)}?suggested_only=maybe", certificate)
    assert (status, answer["errcode"]) == (400, "M_INVALID_PARAM")
    status, answer = await federation_call(
        a, b, "GET", f"{HIERARCHY}/{quote(private)}", certificate, key=impostor_key(a)
    )
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")


def _state(join_rule: str | None, history: str | None = None) -> dict[tuple[str, str], Event]:
    def event(event_type: str, content: dict[str, Any]) -> Event:
        pdu = {"type": event_type, "state_key": "", "content": content, "sender": "@u:x", "origin_server_ts": 0}
        return Event(pdu, KNOWN_ROOM_VERSIONS["10"], f"${event_type}")

    state = {("m.room.create", ""): event("m.room.create", {})}
    if join_rule is not None:
        state[("m.room.join_rules", "")] = event("m.room.join_rules", {"join_rule": join_rule})
    if history is not None:
        state[("m.room.history_visibility", "")] = event("m.room.history_visibility", {"history_visibility": history})
    return state


def test_which_rooms_a_server_may_see() -> None:
    v10, v6 = KNOWN_ROOM_VERSIONS["10"], KNOWN_ROOM_VERSIONS["6"]
    for rule in ("public", "knock", "restricted", "knock_restricted"):
        assert may_server_see_in_hierarchy(v10, _state(rule), False)
    for rule in ("knock", "restricted", "knock_restricted"):
        assert not may_server_see_in_hierarchy(v6, _state(rule), False)
    assert not may_server_see_in_hierarchy(v10, _state("invite"), False)
    assert not may_server_see_in_hierarchy(v10, _state(None), False)
    assert may_server_see_in_hierarchy(v10, _state("invite"), True)
    assert may_server_see_in_hierarchy(v10, _state("invite", "world_readable"), False)


async def test_client_hierarchy_walks_into_remote_rooms(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = await make_user(a, "alice"), await make_user(b, "bob")
    remote_space = await create_room(b, bob, preset="public_chat", name="B space", creation_content={"type": "m.space"})
    remote_room = await create_room(b, bob, preset="public_chat", name="B room", topic="over there")
    nested = await create_room(b, bob, preset="public_chat", name="B nested", creation_content={"type": "m.space"})
    deep = await create_room(b, bob, preset="public_chat", name="B deep")
    private = await create_room(b, bob, preset="private_chat", name="B private")
    for child in (remote_room, nested, private):
        await _put_state(b, bob, remote_space, "m.space.child", child, {"via": [b.server_name]})
    await _put_state(b, bob, nested, "m.space.child", deep, {"via": [b.server_name]})
    space = await create_room(a, alice, preset="public_chat", name="A space", creation_content={"type": "m.space"})
    await _put_state(a, alice, space, "m.space.child", remote_space, {"via": [b.server_name]})
    await _put_state(a, alice, space, "m.space.child", "!gone:elsewhere.test", {"via": ["elsewhere.test"]})

    status, answer = await client_call(a, "GET", f"/_matrix/client/v1/rooms/{quote(space)}/hierarchy", alice)
    assert status == 200, answer
    assert [room["room_id"] for room in answer["rooms"]] == [space, remote_space, remote_room, nested, deep]
    by_id = {room["room_id"]: room for room in answer["rooms"]}
    assert (by_id[remote_room]["name"], by_id[remote_room]["topic"]) == ("B room", "over there")
    assert {c["state_key"] for c in by_id[remote_space]["children_state"]} == {remote_room, nested, private}
    assert by_id[remote_space]["room_type"] == "m.space"
    assert [c["state_key"] for c in by_id[nested]["children_state"]] == [deep]

    status, answer = await client_call(
        a, "GET", f"/_matrix/client/v1/rooms/{quote(space)}/hierarchy?max_depth=1", alice
    )
    assert [room["room_id"] for room in answer["rooms"]] == [space, remote_space]
    status, answer = await client_call(
        a, "GET", f"/_matrix/client/v1/rooms/{quote(space)}/hierarchy?limit=2", alice
    )
    assert [room["room_id"] for room in answer["rooms"]] == [space, remote_space]
    status, page = await client_call(
        a, "GET", f"/_matrix/client/v1/rooms/{quote(space)}/hierarchy?limit=2&from={answer['next_batch']}", alice
    )
    assert [room["room_id"] for room in page["rooms"]] == [remote_room, nested]


def test_rooms_known_from_another_servers_summary() -> None:
    assert may_see_remote_summary({"join_rule": "invite", "world_readable": True}, set())
    for rule in ("public", "knock", "knock_restricted"):
        assert may_see_remote_summary({"join_rule": rule}, set())
    restricted = {"join_rule": "restricted", "allowed_room_ids": ["!a:x", {"bad": 1}]}
    assert may_see_remote_summary(restricted, {"!a:x"})
    assert not may_see_remote_summary(restricted, {"!b:x"})
    assert not may_see_remote_summary({"join_rule": "invite"}, {"!a:x"})


def test_child_links_from_another_server() -> None:
    def link(room: str, ts: int, **content: Any) -> dict[str, Any]:
        return {"type": "m.space.child", "state_key": room, "origin_server_ts": ts, "sender": "@u:x",
                "content": {"via": ["x"], **content}}

    children = [
        link("!late:x", 5),
        link("!early:x", 1),
        link("!ordered:x", 9, order="a"),
        link("!suggested:x", 3, suggested=True),
        {**link("!novia:x", 0), "content": {"via": []}},
        {**link("!notachild:x", 0), "type": "m.room.name"},
        "junk",
    ]
    assert [c["state_key"] for c in stripped_space_children(children)] == [
        "!ordered:x", "!early:x", "!suggested:x", "!late:x"
    ]
    assert [c["state_key"] for c in stripped_space_children(children, suggested_only=True)] == ["!suggested:x"]
    assert stripped_space_children(None) == []
