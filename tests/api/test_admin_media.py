"""Synapse's media admin API over HTTP, on SQLite and PostgreSQL: a room's media,
quarantine, a user's uploads. (Deleting one item: test_media_admin.py.)"""

from __future__ import annotations

from tests.api.conftest import SERVER_NAME
from tests.api.media_helpers import AUTHED, upload

V1 = "/_synapse/admin/v1"
CLIENT = "/_matrix/client/v3"


async def status_of(http, user, media_id) -> int:
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=user.headers) as response:
        return response.status


async def post_image(http, user, room_id, txn, url, thumbnail_url=None) -> None:
    content = {"msgtype": "m.image", "body": "pic", "url": url}
    if thumbnail_url is not None:
        content["info"] = {"thumbnail_url": thumbnail_url}
    async with http.put(f"{CLIENT}/rooms/{room_id}/send/m.room.message/{txn}", json=content,
                        headers=user.headers) as response:
        assert response.status == 200


async def test_room_media_and_quarantine(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    first = await upload(http, alice, b"first")
    second = await upload(http, alice, b"second")
    async with http.post(f"{CLIENT}/createRoom", json={}, headers=alice.headers) as response:
        room_id = (await response.json())["room_id"]
    await post_image(http, alice, room_id, "t1", f"mxc://{SERVER_NAME}/{first}", f"mxc://{SERVER_NAME}/{second}")
    await post_image(http, alice, room_id, "t2", "mxc://elsewhere.test/abcdef")
    await post_image(http, alice, room_id, "t3", "https://not-mxc.example/x")

    async with http.get(f"{V1}/room/{room_id}/media", headers=alice.headers) as response:
        assert response.status == 403
    async with http.get(f"{V1}/room/{room_id}/media", headers=admin.headers) as response:
        listed = await response.json()
    assert sorted(listed["local"]) == sorted([f"mxc://{SERVER_NAME}/{first}", f"mxc://{SERVER_NAME}/{second}"])
    assert listed["remote"] == ["mxc://elsewhere.test/abcdef"]

    async with http.post(f"{V1}/room/{room_id}/media/quarantine", headers=admin.headers) as response:
        assert await response.json() == {"num_quarantined": 2}
    assert await status_of(http, alice, first) == 404
    assert await status_of(http, alice, second) == 404

    async with http.post(f"{V1}/media/unquarantine/{SERVER_NAME}/{first}", headers=admin.headers) as response:
        assert response.status == 200
    assert await status_of(http, alice, first) == 200
    async with http.post(f"{V1}/media/quarantine/{SERVER_NAME}/{first}", headers=admin.headers) as response:
        assert response.status == 200
    assert await status_of(http, alice, first) == 404

    async with http.get(f"{V1}/room/!nowhere:{SERVER_NAME}/media", headers=admin.headers) as response:
        assert response.status == 404


async def test_user_media_listing_and_deletion(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    ids = [await upload(http, alice, f"file {i}".encode(), "text/plain", f"f{i}.txt") for i in range(3)]

    media = f"{V1}/users/{alice.user_id}/media"
    async with http.get(media, params={"limit": "2", "order_by": "upload_name", "dir": "b"},
                        headers=admin.headers) as response:
        body = await response.json()
    assert [m["upload_name"] for m in body["media"]] == ["f2.txt", "f1.txt"]
    assert body["total"] == 3 and body["next_token"] == 2
    assert body["media"][0]["media_type"] == "text/plain" and body["media"][0]["quarantined_by"] is None
    async with http.get(media, params={"order_by": "size"}, headers=admin.headers) as response:
        assert response.status == 400

    async with http.delete(media, headers=admin.headers) as response:
        deleted = await response.json()
    assert sorted(deleted["deleted_media"]) == sorted(ids) and deleted["total"] == 3
    assert await status_of(http, alice, ids[0]) == 404
    async with http.get(media, headers=admin.headers) as response:
        assert (await response.json())["total"] == 0
    async with http.get(f"{V1}/users/@ghost:{SERVER_NAME}/media", headers=admin.headers) as response:
        assert response.status == 404


async def test_media_usage_by_user(http, make_user, homeserver):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    bob = await make_user("bob")
    await homeserver.profiles.set_by_admin(bob.user_id, "displayname", "Bobby")
    await upload(http, alice, b"12345")
    await upload(http, alice, b"678")
    await upload(http, bob, b"1")

    stats = f"{V1}/statistics/users/media"
    async with http.get(stats, params={"order_by": "media_length", "dir": "b"}, headers=admin.headers) as response:
        body = await response.json()
    assert body["total"] == 2
    assert body["users"] == [
        {"user_id": alice.user_id, "displayname": None, "media_count": 2, "media_length": 8},
        {"user_id": bob.user_id, "displayname": "Bobby", "media_count": 1, "media_length": 1},
    ]
    async with http.get(stats, params={"search_term": "bobb"}, headers=admin.headers) as response:
        assert [u["user_id"] for u in (await response.json())["users"]] == [bob.user_id]
    async with http.get(stats, params={"until_ts": "0"}, headers=admin.headers) as response:
        assert (await response.json())["total"] == 0
    async with http.get(stats, params={"order_by": "size"}, headers=admin.headers) as response:
        assert response.status == 400
