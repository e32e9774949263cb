"""Room aliases and m.room.canonical_alias validation over HTTP."""

from __future__ import annotations

from urllib.parse import quote

V3 = "/_matrix/client/v3"


async def call(http, method, path, user=None, body=None, status=200, errcode=None):
    headers = user.headers if user is not None else {}
    async with http.request(method, V3 + path, json=body, headers=headers) as response:
        data = await response.json()
        assert response.status == status, data
        if errcode is not None:
            assert data["errcode"] == errcode, data
        return data


async def create_room(http, user, **body):
    return (await call(http, "POST", "/createRoom", user, body))["room_id"]


def alias_path(alias):
    return "/directory/room/" + quote(alias, safe="")


async def test_create_resolve_delete(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    await call(http, "PUT", alias_path("#team:veche.test"), alice, {"room_id": room_id})
    assert await call(http, "GET", alias_path("#team:veche.test"), alice) == {
        "room_id": room_id,
        "servers": ["veche.test"],
    }
    data = await call(http, "PUT", alias_path("#team:veche.test"), alice, {"room_id": room_id}, status=409)
    assert data["errcode"] == "M_UNKNOWN"
    assert await call(http, "GET", f"/rooms/{room_id}/aliases", alice) == {"aliases": ["#team:veche.test"]}
    await call(http, "DELETE", alias_path("#team:veche.test"), alice)
    await call(http, "GET", alias_path("#team:veche.test"), alice, status=404, errcode="M_NOT_FOUND")
    await call(http, "DELETE", alias_path("#team:veche.test"), alice, status=404, errcode="M_NOT_FOUND")


async def test_bad_aliases_and_rooms(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice)
    for alias in ("team", "#team", "#:veche.test"):
        await call(http, "PUT", alias_path(alias), alice, {"room_id": room_id}, status=400, errcode="M_INVALID_PARAM")
        await call(http, "GET", alias_path(alias), alice, status=400, errcode="M_INVALID_PARAM")
    # Only this server's aliases can be made here; other servers' are asked of them, and
    # other.test cannot be reached (502, as Synapse answers).
    await call(http, "PUT", alias_path("#team:other.test"), alice, {"room_id": room_id}, status=400, errcode="M_INVALID_PARAM")
    await call(http, "GET", alias_path("#team:other.test"), alice, status=502)
    await call(http, "PUT", alias_path("#x:veche.test"), alice, {}, status=400, errcode="M_MISSING_PARAM")
    await call(http, "PUT", alias_path("#x:veche.test"), alice, {"room_id": "!nope:veche.test"}, status=404)
    # Outsiders cannot name a room.
    await call(http, "PUT", alias_path("#x:veche.test"), bob, {"room_id": room_id}, status=403, errcode="M_FORBIDDEN")


async def test_who_may_delete(http, homeserver, make_user):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    admin = await make_user("root", admin=True)
    room_id = await create_room(http, alice, preset="public_chat")
    for user in (bob, carol):
        await call(http, "POST", f"/rooms/{room_id}/join", user, {})
    for name in ("bobs", "alices", "more"):
        owner = bob if name == "bobs" else alice
        await call(http, "PUT", alias_path(f"#{name}:veche.test"), owner, {"room_id": room_id})
    # Carol is neither creator nor room admin nor server admin.
    await call(http, "DELETE", alias_path("#bobs:veche.test"), carol, status=403, errcode="M_FORBIDDEN")
    await call(http, "DELETE", alias_path("#alices:veche.test"), bob, status=403)
    await call(http, "DELETE", alias_path("#bobs:veche.test"), bob)  # the creator
    await call(http, "DELETE", alias_path("#alices:veche.test"), admin)  # a server admin
    await call(http, "PUT", alias_path("#carols:veche.test"), carol, {"room_id": room_id})
    await call(http, "DELETE", alias_path("#carols:veche.test"), alice)  # a room admin
    assert await homeserver.aliases.aliases_of_room(room_id) == ["#more:veche.test"]


async def test_local_aliases_visibility(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, room_alias_name="hidden")
    await call(http, "GET", f"/rooms/{room_id}/aliases", bob, status=403, errcode="M_FORBIDDEN")
    await call(
        http, "PUT", f"/rooms/{room_id}/state/m.room.history_visibility", alice, {"history_visibility": "world_readable"}
    )
    assert await call(http, "GET", f"/rooms/{room_id}/aliases", bob) == {"aliases": ["#hidden:veche.test"]}


async def test_canonical_alias_must_point_to_the_room(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, room_alias_name="main")
    other = await create_room(http, alice, room_alias_name="elsewhere")
    await call(http, "PUT", alias_path("#alt:veche.test"), alice, {"room_id": room_id})
    path = f"/rooms/{room_id}/state/m.room.canonical_alias"
    await call(http, "PUT", path, alice, {"alias": "#main:veche.test", "alt_aliases": ["#alt:veche.test"]})
    for content, errcode in [
        ({"alias": "#elsewhere:veche.test"}, "M_BAD_ALIAS"),
        ({"alias": "#unknown:veche.test"}, "M_BAD_ALIAS"),
        ({"alias": "#main:veche.test", "alt_aliases": ["#elsewhere:veche.test"]}, "M_BAD_ALIAS"),
        ({"alias": "main"}, "M_INVALID_PARAM"),
        ({"alt_aliases": ["#ok:veche.test", "bad"]}, "M_INVALID_PARAM"),
        ({"alt_aliases": "#alt:veche.test"}, "M_INVALID_PARAM"),
    ]:
        await call(http, "PUT", path, alice, content, status=400, errcode=errcode)
    # Clearing it is fine; the other room may advertise its own alias.
    await call(http, "PUT", path, alice, {})
    await call(http, "PUT", f"/rooms/{other}/state/m.room.canonical_alias", alice, {"alias": "#elsewhere:veche.test"})


async def test_deleting_an_alias_updates_the_canonical_alias(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, room_alias_name="main")
    await call(http, "PUT", alias_path("#alt:veche.test"), alice, {"room_id": room_id})
    await call(
        http, "PUT", f"/rooms/{room_id}/state/m.room.canonical_alias", alice,
        {"alias": "#main:veche.test", "alt_aliases": ["#alt:veche.test"]},
    )
    await call(http, "DELETE", alias_path("#alt:veche.test"), alice)
    event = await homeserver.stores.events.get_current_state_event(room_id, "m.room.canonical_alias")
    assert event.content == {"alias": "#main:veche.test", "alt_aliases": []}
    await call(http, "DELETE", alias_path("#main:veche.test"), alice)
    event = await homeserver.stores.events.get_current_state_event(room_id, "m.room.canonical_alias")
    assert event.content == {"alt_aliases": []}


async def test_an_alias_that_drifted_does_not_block_edits(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, room_alias_name="main")
    other = await create_room(http, alice)
    # The mapping moves elsewhere behind the canonical alias event's back.
    await homeserver.aliases.delete("#main:veche.test")
    await homeserver.aliases.create("#main:veche.test", other, alice.user_id)
    path = f"/rooms/{room_id}/state/m.room.canonical_alias"
    # Only aliases the event newly mentions are checked.
    await call(http, "PUT", path, alice, {"alias": "#main:veche.test", "alt_aliases": []})
    await call(http, "PUT", path, alice, {"alt_aliases": ["#new:veche.test"]}, status=400, errcode="M_BAD_ALIAS")


async def test_resolving_needs_no_token(http, make_user):
    # directory.yaml lists no security for GET /directory/room/{roomAlias}.
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    await call(http, "PUT", alias_path("#open:veche.test"), alice, {"room_id": room_id})
    assert (await call(http, "GET", alias_path("#open:veche.test")))["room_id"] == room_id
    await call(http, "GET", alias_path("#nope:veche.test"), status=404, errcode="M_NOT_FOUND")
