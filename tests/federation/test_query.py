"""Profiles and room aliases across two Veche servers: /query/profile and /query/directory
served by one and used by the other's client API."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from veche.homeserver import HomeServer

from .conftest import Certificate
from .query_helpers import V3, client_call, create_room, federation_call, impostor_key, make_user

PROFILE = "/_matrix/federation/v1/query/profile"
DIRECTORY = "/_matrix/federation/v1/query/directory"


async def test_profile_of_a_remote_user(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = await make_user(a, "alice"), await make_user(b, "bob")
    status, answer = await client_call(b, "PUT", f"{V3}/profile/{bob.user_id}/displayname", bob, {"displayname": "Bob B"})
    assert status == 200, answer
    status, answer = await client_call(a, "GET", f"{V3}/profile/{bob.user_id}", alice)
    assert (status, answer) == (200, {"displayname": "Bob B"})
    status, answer = await client_call(a, "GET", f"{V3}/profile/{bob.user_id}/displayname", alice)
    assert (status, answer) == (200, {"displayname": "Bob B"})
    status, answer = await client_call(a, "GET", f"{V3}/profile/{bob.user_id}/avatar_url", alice)
    assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
    status, answer = await client_call(a, "GET", f"{V3}/profile/@nobody:{b.server_name}", alice)
    assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")


async def test_profile_query_served(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    bob = await make_user(b, "bob")
    status, answer = await federation_call(a, b, "GET", f"{PROFILE}?user_id={quote(bob.user_id)}", certificate)
    assert (status, answer) == (200, {"displayname": "bob"})
    path = f"{PROFILE}?user_id={quote(bob.user_id)}&field=displayname"
    assert await federation_call(a, b, "GET", path, certificate) == (200, {"displayname": "bob"})
    for user_id in (f"@nobody:{b.server_name}", f"@someone:{a.server_name}"):
        status, answer = await federation_call(a, b, "GET", f"{PROFILE}?user_id={quote(user_id)}", certificate)
        assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
    path = f"{PROFILE}?user_id={quote(bob.user_id)}&field=avatar_url"
    status, answer = await federation_call(a, b, "GET", path, certificate)
    assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
    status, answer = await federation_call(a, b, "GET", PROFILE, certificate)
    assert (status, answer["errcode"]) == (400, "M_MISSING_PARAM")
    status, answer = await federation_call(
        a, b, "GET", f"{PROFILE}?user_id={quote(bob.user_id)}", certificate, key=impostor_key(a)
    )
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")


async def test_remote_alias_resolves(servers: tuple[HomeServer, HomeServer], certificate: Certificate) -> None:
    a, b = servers
    alice, bob = await make_user(a, "alice"), await make_user(b, "bob")
    room_id = await create_room(b, bob, room_alias_name="lobby")
    alias = f"#lobby:{b.server_name}"
    status, answer = await client_call(a, "GET", f"{V3}/directory/room/{quote(alias)}", alice)
    assert (status, answer) == (200, {"room_id": room_id, "servers": [b.server_name]})
    missing = f"#nope:{b.server_name}"
    status, answer = await client_call(a, "GET", f"{V3}/directory/room/{quote(missing)}", alice)
    assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")

    status, answer = await federation_call(a, b, "GET", f"{DIRECTORY}?room_alias={quote(alias)}", certificate)
    assert (status, answer) == (200, {"room_id": room_id, "servers": [b.server_name]})
    elsewhere = f"#lobby:{a.server_name}"
    status, answer = await federation_call(a, b, "GET", f"{DIRECTORY}?room_alias={quote(elsewhere)}", certificate)
    assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
    status, answer = await federation_call(
        a, b, "GET", f"{DIRECTORY}?room_alias={quote(alias)}", certificate, key=impostor_key(a)
    )
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")


@pytest.mark.parametrize("extra_settings", [{"VECHE_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "off"}])
async def test_unreachable_alias_server(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice = await make_user(a, "alice")
    alias = f"#lobby:{b.server_name}"
    status, answer = await client_call(a, "GET", f"{V3}/directory/room/{quote(alias)}", alice)
    assert status == 502, answer
    status, answer = await client_call(a, "GET", f"{V3}/profile/@bob:{b.server_name}", alice)
    assert (status, answer["errcode"]) == (404, "M_NOT_FOUND")
