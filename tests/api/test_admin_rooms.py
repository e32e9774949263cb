"""Synapse's rooms admin API (/_synapse/admin) over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import SERVER_NAME
from tests.api.userdata_helpers import call, q, send_text
from veche.errors import MatrixError

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


async def _sync(http, user, since=None) -> dict:
    params = {"timeout": "0"} if since is None else {"timeout": "0", "since": since}
    async with http.get(f"{CLIENT}/sync", params=params, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_delete_purges_the_room_and_later_operations_work(http, make_user, homeserver):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat", room_alias_name="plaza", visibility="public")
    other = await create_room(http, alice, preset="public_chat")
    assert await join(http, bob, room_id) == 200
    assert await join(http, bob, other) == 200
    sent = [await send_text(http, alice, room_id, f"secret {i}") for i in range(3)]
    assert (await call(http, "PUT", f"/user/{q(bob.user_id)}/rooms/{q(room_id)}/tags/u.work", bob, {}))[0] == 200
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(sent[-1])}", bob, {}))[0] == 200
    bob_before = (await _sync(http, bob))["next_batch"]
    alice_before = (await _sync(http, alice))["next_batch"]
    # Warm the caches that hold the room.
    async with http.get(f"{CLIENT}/rooms/{room_id}/messages", params={"dir": "b"}, headers=bob.headers) as response:
        assert response.status == 200
    async with http.post(f"{CLIENT}/search", json={"search_categories": {"room_events": {"search_term": "secret"}}},
                         headers=bob.headers) as response:
        assert len((await response.json())["search_categories"]["room_events"]["results"]) == 3

    async with http.delete(f"{V2}/rooms/{room_id}", json={"block": True}, headers=admin.headers) as response:
        assert response.status == 200, await response.text()
        delete_id = (await response.json())["delete_id"]
    async with http.get(f"{V2}/rooms/delete_status/{delete_id}", headers=admin.headers) as response:
        status = await response.json()
    assert status["status"] == "complete"
    assert sorted(status["shutdown_room"]["kicked_users"]) == sorted([alice.user_id, bob.user_id])

    db = homeserver.db
    nid = await db.fetchval("SELECT room_nid FROM rooms WHERE room_id = ?", room_id)
    assert await db.fetchval("SELECT COUNT(*) FROM events WHERE room_nid = ?", nid) == 0
    assert await db.fetchval("SELECT COUNT(*) FROM account_data WHERE room_id = ?", room_id) == 0
    assert await db.fetchval("SELECT COUNT(*) FROM receipts WHERE room_id = ?", room_id) == 0
    async with http.get(f"{V1}/rooms/{room_id}", headers=admin.headers) as response:
        assert response.status == 404
    # Nor does the event cache still hold its events.
    assert await homeserver.stores.events.get_events(sent) == {}
    async with http.post(f"{CLIENT}/search", json={"search_categories": {"room_events": {"search_term": "secret"}}},
                         headers=bob.headers) as response:
        assert response.status == 200
        assert (await response.json())["search_categories"]["room_events"]["results"] == []

    # Syncs of the former members, from scratch and from before the purge.
    for user, since in ((alice, alice_before), (bob, bob_before)):
        full = await _sync(http, user)
        assert room_id not in full["rooms"].get("join", {}) and room_id not in full["rooms"].get("leave", {})
        assert other in full["rooms"]["join"]
        later = await _sync(http, user, since)
        assert room_id not in later["rooms"].get("join", {})
        assert (await _sync(http, user, later["next_batch"]))["next_batch"]
    async with http.put(f"{CLIENT}/rooms/{other}/send/m.room.message/after",
                        json={"msgtype": "m.text", "body": "still here"}, headers=alice.headers) as response:
        assert response.status == 200
    later = await _sync(http, bob, full["next_batch"])
    assert [e["content"]["body"] for e in later["rooms"]["join"][other]["timeline"]["events"]] == ["still here"]

    # The block holds, the alias is free again, new rooms work.
    assert await join(http, bob, room_id) == 403
    again = await create_room(http, bob, preset="public_chat", room_alias_name="plaza")
    async with http.get(f"{CLIENT}/directory/room/%23plaza:{SERVER_NAME}") as response:
        assert (await response.json())["room_id"] == again
    assert await join(http, alice, again) == 200
    async with http.get(f"{CLIENT}/joined_rooms", headers=alice.headers) as response:
        assert sorted((await response.json())["joined_rooms"]) == sorted([other, again])
    async with http.get(f"{V1}/rooms", headers=admin.headers) as response:
        assert sorted(r["room_id"] for r in (await response.json())["rooms"]) == sorted([other, again])

    # Unblocked, the room ID is unknown: joining it finds nothing to join.
    async with http.put(f"{V1}/rooms/{room_id}/block", json={"block": False}, headers=admin.headers) as response:
        assert response.status == 200
    assert await join(http, bob, room_id) in (403, 404)


async def test_sliding_sync_forgets_a_purged_room(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="Doomed")
    body = {"lists": {"all": {"ranges": [[0, 10]], "timeline_limit": 1}}}
    url = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
    async with http.post(url, json=body, headers=alice.headers) as response:
        assert response.status == 200, await response.text()
        first = await response.json()
    assert room_id in first["rooms"]
    async with http.delete(f"{V1}/rooms/{room_id}", json={}, headers=admin.headers) as response:
        assert response.status == 200, await response.text()
    async with http.post(url, params={"pos": first["pos"], "timeout": "0"}, json=body,
                         headers=alice.headers) as response:
        assert response.status == 200, await response.text()
        assert room_id not in (await response.json()).get("rooms", {})


async def test_purge_waits_for_every_local_user_to_leave_unless_forced(http, make_user, homeserver, monkeypatch):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    assert await join(http, bob, room_id) == 200
    leave = homeserver.membership.update_membership

    async def bob_stays(user_id, room, sender, content, *args, **kwargs):
        if user_id == bob.user_id and room == room_id:
            raise MatrixError(403, "M_FORBIDDEN", "stuck")
        return await leave(user_id, room, sender, content, *args, **kwargs)

    monkeypatch.setattr(homeserver.membership, "update_membership", bob_stays)
    async with http.delete(f"{V2}/rooms/{room_id}", json={}, headers=admin.headers) as response:
        delete_id = (await response.json())["delete_id"]
    async with http.get(f"{V2}/rooms/delete_status/{delete_id}", headers=admin.headers) as response:
        status = await response.json()
    assert status["status"] == "failed" and "force_purge" in status["error"]
    assert status["shutdown_room"]["failed_to_kick_users"] == [bob.user_id]
    async with http.delete(f"{V1}/rooms/{room_id}", json={}, headers=admin.headers) as response:
        assert response.status == 400
    async with http.get(f"{V1}/rooms/{room_id}/members", headers=admin.headers) as response:
        assert (await response.json())["members"] == [bob.user_id]

    async with http.delete(f"{V1}/rooms/{room_id}", json={"force_purge": True}, headers=admin.headers) as response:
        assert response.status == 200
    async with http.get(f"{V1}/rooms/{room_id}", headers=admin.headers) as response:
        assert response.status == 404
