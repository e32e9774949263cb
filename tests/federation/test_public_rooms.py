"""Published rooms across two Veche servers: /publicRooms served by one and listed
through the other's client API with ?server=."""

from __future__ import annotations

from urllib.parse import quote

from veche.homeserver import HomeServer

from .conftest import Certificate
from .query_helpers import V3, client_call, create_room, federation_call, impostor_key, make_user

PUBLIC_ROOMS = "/_matrix/federation/v1/publicRooms"


async def _publish_rooms(b: HomeServer) -> tuple[str, str, str]:
    bob = await make_user(b, "bob")
    lobby = await create_room(b, bob, visibility="public", name="Lobby", topic="Say hello")
    games = await create_room(b, bob, visibility="public", name="Games")
    space = await create_room(
        b, bob, visibility="public", name="Space", creation_content={"type": "m.space"}
    )
    await create_room(b, bob, name="Hidden")
    return lobby, games, space


async def test_remote_public_rooms_through_the_client_api(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    lobby, games, space = await _publish_rooms(b)
    alice = await make_user(a, "alice")
    server = quote(b.server_name)
    status, answer = await client_call(a, "GET", f"{V3}/publicRooms?server={server}", alice)
    assert status == 200, answer
    assert sorted(room["room_id"] for room in answer["chunk"]) == sorted([lobby, games, space])
    assert answer["total_room_count_estimate"] == 3
    [entry] = [room for room in answer["chunk"] if room["room_id"] == lobby]
    assert (entry["name"], entry["topic"], entry["num_joined_members"]) == ("Lobby", "Say hello", 1)

    status, page = await client_call(a, "GET", f"{V3}/publicRooms?server={server}&limit=2", alice)
    assert (status, len(page["chunk"])) == (200, 2)
    since = quote(page["next_batch"])
    status, rest = await client_call(a, "GET", f"{V3}/publicRooms?server={server}&limit=2&since={since}", alice)
    assert {r["room_id"] for r in page["chunk"] + rest["chunk"]} == {lobby, games, space}

    body = {"filter": {"generic_search_term": "hello"}}
    status, answer = await client_call(a, "POST", f"{V3}/publicRooms?server={server}", alice, body)
    assert (status, [r["room_id"] for r in answer["chunk"]]) == (200, [lobby])
    body = {"filter": {"room_types": ["m.space"]}}
    status, answer = await client_call(a, "POST", f"{V3}/publicRooms?server={server}", alice, body)
    assert (status, [r["room_id"] for r in answer["chunk"]]) == (200, [space])

    status, answer = await client_call(a, "GET", f"{V3}/publicRooms?server={server}&since=garbage", alice)
    assert (status, answer["errcode"]) == (400, "M_INVALID_PARAM")


async def test_public_rooms_served(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    lobby, games, space = await _publish_rooms(b)
    status, answer = await federation_call(a, b, "GET", PUBLIC_ROOMS, certificate)
    assert status == 200
    assert {r["room_id"] for r in answer["chunk"]} == {lobby, games, space}
    # public_rooms.yaml: a limit of 0 means no limit.
    status, answer = await federation_call(a, b, "GET", f"{PUBLIC_ROOMS}?limit=0", certificate)
    assert (status, len(answer["chunk"])) == (200, 3)
    status, answer = await federation_call(a, b, "GET", f"{PUBLIC_ROOMS}?third_party_instance_id=irc", certificate)
    assert (status, answer["chunk"]) == (200, [])
    body = {"limit": 1, "filter": {"room_types": [None]}}
    status, answer = await federation_call(a, b, "POST", PUBLIC_ROOMS, certificate, body)
    assert status == 200 and len(answer["chunk"]) == 1 and "next_batch" in answer
    status, answer = await federation_call(a, b, "POST", PUBLIC_ROOMS, certificate, {"limit": "ten"})
    assert (status, answer["errcode"]) == (400, "M_BAD_JSON")
    status, answer = await federation_call(a, b, "GET", f"{PUBLIC_ROOMS}?limit=x", certificate)
    assert (status, answer["errcode"]) == (400, "M_INVALID_PARAM")
    status, answer = await federation_call(a, b, "GET", PUBLIC_ROOMS, certificate, key=impostor_key(a))
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")
