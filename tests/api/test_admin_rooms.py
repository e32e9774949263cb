"""Synapse's rooms admin API (/_synapse/admin) over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import SERVER_NAME

V1 = "/_synapse/admin/v1"
V2 = "/_synapse/admin/v2"
CLIENT = "/_matrix/client/v3"


async def create_room(http, user, **body) -> str:
    async with http.post(f"{CLIENT}/createRoom", json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


async def join(http, user, room_id) -> int:
    async with http.post(f"{CLIENT}/join/{room_id}", json={}, headers=user.headers) as response:
        return response.status


async def test_list_search_and_details(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    bob = await make_user("bob")
    town = await create_room(http, alice, name="Town square", preset="public_chat", visibility="public")
    attic = await create_room(http, alice, name="Attic")
    assert await join(http, bob, town) == 200

    async with http.get(f"{V1}/rooms", headers=alice.headers) as response:
        assert response.status == 403
    async with http.get(f"{V1}/rooms", headers=admin.headers) as response:
        body = await response.json()
    assert body["total_rooms"] == 2 and body["offset"] == 0 and "next_batch" not in body
    assert [r["room_id"] for r in body["rooms"]] == [attic, town]
    square = body["rooms"][1]
    assert square["name"] == "Town square" and square["joined_members"] == 2
    assert square["joined_local_members"] == 2 and square["public"] is True
    assert square["creator"] == alice.user_id and square["join_rules"] == "public"
    assert square["state_events"] >= 6 and square["federatable"] is True

    async with http.get(f"{V1}/rooms", params={"order_by": "joined_members", "limit": "1"},
                        headers=admin.headers) as response:
        body = await response.json()
    assert [r["room_id"] for r in body["rooms"]] == [town] and body["next_batch"] == 1
    async with http.get(f"{V1}/rooms", params={"search_term": "SQUARE"}, headers=admin.headers) as response:
        assert [r["room_id"] for r in (await response.json())["rooms"]] == [town]
    async with http.get(f"{V1}/rooms", params={"order_by": "topic"}, headers=admin.headers) as response:
        assert response.status == 400

    async with http.get(f"{V1}/rooms/{town}", headers=admin.headers) as response:
        details = await response.json()
    assert details["room_id"] == town and details["name"] == "Town square"
    async with http.get(f"{V1}/rooms/{town}/members", headers=admin.headers) as response:
        assert await response.json() == {"members": sorted([alice.user_id, bob.user_id]), "total": 2}
    async with http.get(f"{V1}/rooms/{town}/state", headers=admin.headers) as response:
        state = (await response.json())["state"]
    assert {"m.room.create", "m.room.name", "m.room.member"} <= {e["type"] for e in state}
    async with http.get(f"{V1}/rooms/{town}/forward_extremities", headers=admin.headers) as response:
        extremities = await response.json()
    assert extremities["count"] == 1 and extremities["results"][0]["event_id"].startswith("$")
    async with http.get(f"{V1}/rooms", params={"order_by": "alphabetical", "dir": "b"},
                        headers=admin.headers) as response:
        assert [r["room_id"] for r in (await response.json())["rooms"]] == [town, attic]
    async with http.get(f"{V1}/rooms/!unknown:{SERVER_NAME}", headers=admin.headers) as response:
        assert response.status == 404
    async with http.get(f"{V1}/rooms/not-a-room", headers=admin.headers) as response:
        assert response.status == 400


async def test_block_keeps_local_users_out(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    async with http.put(f"{V1}/rooms/{room_id}/block", json={"block": True}, headers=admin.headers) as response:
        assert await response.json() == {"block": True}
    async with http.get(f"{V1}/rooms/{room_id}/block", headers=admin.headers) as response:
        assert await response.json() == {"block": True, "user_id": admin.user_id}
    assert await join(http, bob, room_id) == 403
    async with http.put(f"{V1}/rooms/{room_id}/block", json={"block": False}, headers=admin.headers) as response:
        assert response.status == 200
    assert await join(http, bob, room_id) == 200
    async with http.put(f"{V1}/rooms/{room_id}/block", json={"block": "yes"}, headers=admin.headers) as response:
        assert response.status == 400


async def test_delete_removes_local_users_and_aliases(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat", room_alias_name="plaza", visibility="public")
    assert await join(http, bob, room_id) == 200

    # Purging is Synapse's default and is refused before anything changes.
    async with http.delete(f"{V1}/rooms/{room_id}", headers=admin.headers) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_INVALID_PARAM"
    async with http.get(f"{V1}/rooms/{room_id}/members", headers=admin.headers) as response:
        assert (await response.json())["total"] == 2

    body = {"purge": False, "block": True}
    async with http.delete(f"{V1}/rooms/{room_id}", json=body, headers=admin.headers) as response:
        assert response.status == 200
        result = await response.json()
    assert sorted(result["kicked_users"]) == sorted([alice.user_id, bob.user_id])
    assert result["failed_to_kick_users"] == [] and result["new_room_id"] is None
    assert result["local_aliases"] == [f"#plaza:{SERVER_NAME}"]
    async with http.get(f"{CLIENT}/joined_rooms", headers=bob.headers) as response:
        assert (await response.json())["joined_rooms"] == []
    async with http.get(f"{CLIENT}/directory/room/%23plaza:{SERVER_NAME}") as response:
        assert response.status == 404
    assert await join(http, bob, room_id) == 403


async def test_delete_v2_moves_users_to_a_notice_room(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    body = {"purge": False, "new_room_user_id": admin.user_id, "message": "Moved"}
    async with http.delete(f"{V2}/rooms/{room_id}", json=body, headers=admin.headers) as response:
        assert response.status == 200
        delete_id = (await response.json())["delete_id"]
    async with http.get(f"{V2}/rooms/delete_status/{delete_id}", headers=admin.headers) as response:
        status = await response.json()
    assert status["status"] == "complete"
    new_room_id = status["shutdown_room"]["new_room_id"]
    assert status["shutdown_room"]["kicked_users"] == [alice.user_id]
    async with http.get(f"{CLIENT}/joined_rooms", headers=alice.headers) as response:
        assert (await response.json())["joined_rooms"] == [new_room_id]
    async with http.get(f"{V2}/rooms/{room_id}/delete_status", headers=admin.headers) as response:
        assert [r["delete_id"] for r in (await response.json())["results"]] == [delete_id]
    async with http.get(f"{V2}/rooms/delete_status/nope", headers=admin.headers) as response:
        assert response.status == 404
