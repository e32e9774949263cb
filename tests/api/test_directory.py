"""The published room directory over HTTP: visibility, listing, pagination and search."""

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


async def test_visibility(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    admin = await make_user("root", admin=True)
    room_id = await create_room(http, alice, preset="public_chat")
    path = f"/directory/list/room/{room_id}"
    assert await call(http, "GET", path) == {"visibility": "private"}
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    # A plain member may not publish; the room's moderators and server admins may.
    await call(http, "PUT", path, bob, {"visibility": "public"}, status=403, errcode="M_FORBIDDEN")
    await call(http, "PUT", path, alice, {"visibility": "public"})
    assert await call(http, "GET", path) == {"visibility": "public"}
    await call(http, "PUT", path, admin, {"visibility": "private"})
    assert await call(http, "GET", path) == {"visibility": "private"}
    await call(http, "PUT", path, alice, {})  # public is the default
    assert await call(http, "GET", path) == {"visibility": "public"}
    await call(http, "PUT", path, alice, {"visibility": "hidden"}, status=400, errcode="M_INVALID_PARAM")
    await call(http, "GET", "/directory/list/room/!nope:veche.test", status=404, errcode="M_NOT_FOUND")
    await call(http, "PUT", "/directory/list/room/!nope:veche.test", alice, {}, status=404)


async def test_chunk_fields(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(
        http, alice, visibility="public", name="Cheese", topic="Tasty cheese", room_alias_name="cheese",
        creation_content={"type": "m.space"},
        initial_state=[
            {"type": "m.room.avatar", "content": {"url": "mxc://veche.test/abc"}},
            {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}},
            {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}},
        ],
    )
    await create_room(http, alice, visibility="private", name="Secret")
    body = await call(http, "GET", "/publicRooms")
    assert body["chunk"] == [
        {
            "room_id": room_id,
            "name": "Cheese",
            "topic": "Tasty cheese",
            "canonical_alias": "#cheese:veche.test",
            "avatar_url": "mxc://veche.test/abc",
            "num_joined_members": 1,
            "world_readable": True,
            "guest_can_join": True,
            "join_rule": "public",
            "room_type": "m.space",
        }
    ]
    assert body["total_room_count_estimate"] == 1
    assert "next_batch" not in body and "prev_batch" not in body


async def test_pagination_and_search(http, make_user):
    users = [await make_user(f"user{i}") for i in range(4)]
    alice = users[0]
    rooms = {}
    for i in range(5):
        name = f"Room {i}" + (" about cats" if i % 2 == 0 else "")
        rooms[i] = await create_room(http, alice, visibility="public", name=name)
    # Room 3 gets the most members, room 1 the next most: they lead the list.
    for user in users[1:]:
        await call(http, "POST", f"/rooms/{rooms[3]}/join", user, {})
    await call(http, "POST", f"/rooms/{rooms[1]}/join", users[1], {})
    everything = (await call(http, "GET", "/publicRooms"))["chunk"]
    order = [entry["room_id"] for entry in everything]
    assert order[:2] == [rooms[3], rooms[1]]
    assert sorted(order[2:]) == order[2:] and set(order) == set(rooms.values())
    assert [e["num_joined_members"] for e in everything] == [4, 2, 1, 1, 1]

    # Forward in pages of two, then back again.
    seen, pages, since = [], [], None
    while True:
        query = "?limit=2" + (f"&since={quote(since)}" if since else "")
        page = await call(http, "GET", "/publicRooms" + query)
        pages.append(page)
        seen += [entry["room_id"] for entry in page["chunk"]]
        since = page.get("next_batch")
        if since is None:
            break
    assert seen == order and len(pages) == 3
    assert "prev_batch" not in pages[0] and "prev_batch" in pages[2]
    back = await call(http, "POST", "/publicRooms", alice, {"limit": 2, "since": pages[2]["prev_batch"]})
    assert [e["room_id"] for e in back["chunk"]] == order[2:4]
    assert back["next_batch"] and back["prev_batch"]

    found = await call(http, "POST", "/publicRooms", alice, {"filter": {"generic_search_term": "CATS"}})
    assert {e["room_id"] for e in found["chunk"]} == {rooms[0], rooms[2], rooms[4]}
    paged = await call(http, "POST", "/publicRooms", alice, {"limit": 1, "filter": {"generic_search_term": "cats"}})
    assert len(paged["chunk"]) == 1 and paged["total_room_count_estimate"] == 3

    await call(http, "GET", "/publicRooms?since=garbage", status=400, errcode="M_INVALID_PARAM")
    await call(http, "GET", "/publicRooms?limit=lots", status=400, errcode="M_INVALID_PARAM")


async def test_room_type_filter_and_networks(http, make_user):
    alice = await make_user("alice")
    space = await create_room(http, alice, visibility="public", creation_content={"type": "m.space"})
    plain = await create_room(http, alice, visibility="public")

    async def listed(body):
        return {e["room_id"] for e in (await call(http, "POST", "/publicRooms", alice, body))["chunk"]}

    assert await listed({"filter": {"room_types": ["m.space"]}}) == {space}
    assert await listed({"filter": {"room_types": [None]}}) == {plain}
    assert await listed({"filter": {"room_types": [None, "m.space"]}}) == {space, plain}
    assert await listed({"include_all_networks": True}) == {space, plain}
    assert await listed({"third_party_instance_id": "irc"}) == set()
    await call(
        http, "POST", "/publicRooms", alice, {"include_all_networks": True, "third_party_instance_id": "irc"},
        status=400, errcode="M_INVALID_PARAM",
    )
    await call(http, "POST", "/publicRooms", alice, {"filter": {"room_types": "m.space"}}, status=400)
    await call(http, "POST", "/publicRooms", status=401)


async def test_unpublished_rooms_leave_the_list(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, visibility="public")
    assert len((await call(http, "GET", "/publicRooms"))["chunk"]) == 1
    await call(http, "PUT", f"/directory/list/room/{room_id}", alice, {"visibility": "private"})
    assert (await call(http, "GET", "/publicRooms"))["chunk"] == []


async def test_public_rooms_server_must_be_a_server_name(http, make_user):
    alice = await make_user("alice")
    for server in ("", "%00", "@alice:veche.test", "host:99999"):
        await call(http, "GET", f"/publicRooms?server={server}", status=400, errcode="M_INVALID_PARAM")
        await call(http, "POST", f"/publicRooms?server={server}", alice, {}, status=400, errcode="M_INVALID_PARAM")


async def test_server_names_dns_cannot_encode_are_unreachable(http, make_user):
    # "a..b" and a 64-byte label fit the spec's server-name grammar but not IDNA: server
    # discovery finds no address (502, like any unreachable server), no 500. Nothing is sent.
    alice = await make_user("alice")
    for server in ("a..b", "a" * 64 + ".example"):
        await call(http, "GET", f"/publicRooms?server={server}", status=502)
        await call(http, "GET", f"/directory/room/{quote(f'#x:{server}')}", status=502)
        body = await call(http, "POST", "/keys/query", alice, {"device_keys": {f"@x:{server}": []}})
        assert body["failures"][server]["status"] == 503
