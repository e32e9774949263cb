"""Synapse's event reports admin API over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

REPORTS = "/_synapse/admin/v1/event_reports"
CLIENT = "/_matrix/client/v3"


async def test_list_show_and_delete_reports(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    bob = await make_user("bob")
    async with http.post(f"{CLIENT}/createRoom", json={"preset": "public_chat", "name": "Hall"},
                         headers=alice.headers) as response:
        room_id = (await response.json())["room_id"]
    async with http.post(f"{CLIENT}/join/{room_id}", json={}, headers=bob.headers) as response:
        assert response.status == 200
    async with http.put(f"{CLIENT}/rooms/{room_id}/send/m.room.message/t1", json={"msgtype": "m.text", "body": "spam"},
                        headers=alice.headers) as response:
        event_id = (await response.json())["event_id"]
    for reason in ("first", "second"):
        async with http.post(f"{CLIENT}/rooms/{room_id}/report/{event_id}", json={"reason": reason},
                             headers=bob.headers) as response:
            assert response.status == 200

    async with http.get(REPORTS, headers=bob.headers) as response:
        assert response.status == 403
    async with http.get(REPORTS, params={"limit": "1"}, headers=admin.headers) as response:
        body = await response.json()
    assert body["total"] == 2 and body["next_token"] == 1
    [newest] = body["event_reports"]
    assert newest["reason"] == "second" and newest["user_id"] == bob.user_id
    assert newest["sender"] == alice.user_id and newest["name"] == "Hall" and newest["room_id"] == room_id
    async with http.get(REPORTS, params={"dir": "f", "user_id": "bob"}, headers=admin.headers) as response:
        assert [r["reason"] for r in (await response.json())["event_reports"]] == ["first", "second"]
    async with http.get(REPORTS, params={"room_id": "!elsewhere"}, headers=admin.headers) as response:
        assert (await response.json())["total"] == 0

    async with http.get(f"{REPORTS}/{newest['id']}", headers=admin.headers) as response:
        details = await response.json()
    assert details["event_json"]["content"]["body"] == "spam"
    async with http.delete(f"{REPORTS}/{newest['id']}", headers=admin.headers) as response:
        assert response.status == 200
    async with http.get(f"{REPORTS}/{newest['id']}", headers=admin.headers) as response:
        assert response.status == 404
    async with http.get(f"{REPORTS}/abc", headers=admin.headers) as response:
        assert response.status == 400
