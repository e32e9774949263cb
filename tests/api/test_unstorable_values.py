"""NUL in text is bad input, never a 500: refused in any request path on both engines, and
PostgreSQL's refusal of it in text columns is 400 M_INVALID_PARAM. Found by fuzzing."""

from __future__ import annotations

from urllib.parse import quote

V3 = "/_matrix/client/v3"


async def status_of(http, method, path, user, body=None):
    async with http.request(method, V3 + path, json=body, headers=user.headers) as response:
        data = await response.json()
        return response.status, data.get("errcode")


async def test_nul_in_path_parameters(http, make_user):
    alice = await make_user("alice")
    async with http.post(V3 + "/createRoom", json={}, headers=alice.headers) as response:
        room = quote((await response.json())["room_id"])
    for method, path, body in [
        ("PUT", f"/rooms/{room}/send/m.room.message/t%00", {"body": "x"}),
        ("PUT", f"/rooms/{room}/send/m.x%00y/t1", {}),
        ("PUT", f"/rooms/{room}/state/m.x/a%00b", {}),
        ("PUT", f"/user/{quote(alice.user_id)}/account_data/m.x%00y", {}),
        ("PUT", "/sendToDevice/m.x/t%00", {"messages": {}}),
        ("POST", f"/rooms/{room}/receipt/m.read/%24a%00b", {}),
    ]:
        assert await status_of(http, method, path, alice, body) == (400, "M_INVALID_PARAM"), path


async def test_nul_in_a_displayname(http, make_user):
    # Refused before anything is written: the profile once kept it while the user directory
    # update failed on PostgreSQL.
    alice = await make_user("alice")
    path = f"/profile/{quote(alice.user_id)}/displayname"
    assert await status_of(http, "PUT", path, alice, {"displayname": "a\u0000b"}) == (400, "M_INVALID_PARAM")
    async with http.get(V3 + f"/profile/{quote(alice.user_id)}", headers=alice.headers) as response:
        assert "\u0000" not in (await response.json()).get("displayname", "")


async def test_nul_in_body_text_that_reaches_a_column(http, make_user):
    # SQLite stores these and PostgreSQL refuses them; either way no 500.
    alice = await make_user("alice")
    for method, path, body in [
        ("PUT", f"/presence/{quote(alice.user_id)}/status", {"presence": "online", "status_msg": "\u0000"}),
        ("POST", "/login", {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "a\u0000"},
                            "password": "x"}),
    ]:
        status, errcode = await status_of(http, method, path, alice, body)
        assert status < 500 and (status != 400 or errcode == "M_INVALID_PARAM"), (path, status, errcode)
