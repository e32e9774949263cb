"""Synapse's user admin API (/_synapse/admin) over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from tests.api.conftest import SERVER_NAME

V1 = "/_synapse/admin/v1"
V2 = "/_synapse/admin/v2"


async def test_server_version_needs_no_token(http):
    async with http.get(f"{V1}/server_version") as response:
        assert response.status == 200
        assert (await response.json())["server_version"].startswith("Veche ")


async def test_only_admins_get_in(http, make_user):
    alice = await make_user("alice")
    async with http.get(f"{V2}/users") as response:
        assert response.status == 401
        assert (await response.json())["errcode"] == "M_MISSING_TOKEN"
    async with http.get(f"{V2}/users", headers=alice.headers) as response:
        assert response.status == 403
        assert (await response.json())["errcode"] == "M_FORBIDDEN"
    async with http.put(f"{V1}/users/{alice.user_id}/admin", json={"admin": True}, headers=alice.headers) as response:
        assert response.status == 403


async def test_list_users_filters_orders_and_pages(http, make_user, homeserver):
    admin = await make_user("root", admin=True)
    for name in ("bob", "carol", "dave"):
        await make_user(name)
    await homeserver.profiles.set_by_admin(f"@carol:{SERVER_NAME}", "displayname", "Queen Carol")
    await homeserver.auth_service.deactivate(f"@dave:{SERVER_NAME}")

    async with http.get(f"{V2}/users", params={"limit": "2"}, headers=admin.headers) as response:
        body = await response.json()
    assert [u["name"] for u in body["users"]] == [f"@bob:{SERVER_NAME}", f"@carol:{SERVER_NAME}"]
    assert body["total"] == 3 and body["next_token"] == "2"
    async with http.get(f"{V2}/users", params={"from": "2"}, headers=admin.headers) as response:
        body = await response.json()
    assert [u["name"] for u in body["users"]] == [admin.user_id] and "next_token" not in body

    async with http.get(f"{V2}/users", params={"deactivated": "true", "dir": "b"}, headers=admin.headers) as response:
        names = [u["name"] for u in (await response.json())["users"]]
    assert names == [f"@{n}:{SERVER_NAME}" for n in ("root", "dave", "carol", "bob")]

    async with http.get(f"{V2}/users", params={"name": "queen"}, headers=admin.headers) as response:
        [carol] = (await response.json())["users"]
    assert carol["displayname"] == "Queen Carol" and carol["admin"] is False
    async with http.get(f"{V2}/users", params={"user_id": "ROO"}, headers=admin.headers) as response:
        assert [u["name"] for u in (await response.json())["users"]] == [admin.user_id]
    async with http.get(
        f"{V2}/users", params={"order_by": "displayname"}, headers=admin.headers
    ) as response:
        names = [u["name"] for u in (await response.json())["users"]]
    # Accounts without a display name (made directly in the store) come last.
    assert names == [f"@carol:{SERVER_NAME}", f"@bob:{SERVER_NAME}", admin.user_id]

    for bad in ({"limit": "-1"}, {"limit": str(2**64)}, {"from": "x"}, {"order_by": "password"}, {"dir": "up"}, {"guests": "yes"}):
        async with http.get(f"{V2}/users", params=bad, headers=admin.headers) as response:
            assert response.status == 400, bad
            assert (await response.json())["errcode"] == "M_INVALID_PARAM"


async def test_create_then_modify_a_user(http, make_user):
    admin = await make_user("root", admin=True)
    user_id = f"@newbie:{SERVER_NAME}"
    body = {"password": "secret one", "displayname": "New Bie", "admin": False, "threepids": []}
    async with http.put(f"{V2}/users/{user_id}", json=body, headers=admin.headers) as response:
        assert response.status == 201
        created = await response.json()
    assert created["name"] == user_id and created["displayname"] == "New Bie"
    assert created["deactivated"] is False and created["threepids"] == []
    # Seconds, as Synapse answers (synapse-admin multiplies by 1000).
    assert abs(created["creation_ts"] - time.time()) < 60

    login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "newbie"}}
    async with http.post("/_matrix/client/v3/login", json={**login, "password": "secret one"}) as response:
        assert response.status == 200
        token = (await response.json())["access_token"]

    change = {"password": "secret two", "avatar_url": "mxc://example.org/abc", "admin": True}
    async with http.put(f"{V2}/users/{user_id}", json=change, headers=admin.headers) as response:
        assert response.status == 200
        changed = await response.json()
    assert changed["admin"] is True and changed["avatar_url"] == "mxc://example.org/abc"
    # A new password logs every device out unless logout_devices is false.
    async with http.get("/_matrix/client/v3/account/whoami", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401
    async with http.post("/_matrix/client/v3/login", json={**login, "password": "secret two"}) as response:
        assert response.status == 200

    async with http.get(f"{V2}/users/@nobody:{SERVER_NAME}", headers=admin.headers) as response:
        assert response.status == 404
        assert (await response.json())["errcode"] == "M_NOT_FOUND"
    async with http.get(f"{V2}/users/@someone:elsewhere.test", headers=admin.headers) as response:
        assert response.status == 400
    for bad in ({"admin": "yes"}, {"password": 5}, {"threepids": [{"medium": "email", "address": "a@b.c"}]}):
        async with http.put(f"{V2}/users/{user_id}", json=bad, headers=admin.headers) as response:
            assert response.status == 400, bad
    async with http.put(f"{V2}/users/@Bad Name:{SERVER_NAME}", json={}, headers=admin.headers) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_INVALID_USERNAME"


async def test_deactivate_and_reactivate(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    async with http.post(f"{V1}/deactivate/{alice.user_id}", json={"erase": "yes"}, headers=admin.headers) as r:
        assert r.status == 400
    async with http.post(f"{V1}/deactivate/{alice.user_id}", json={"erase": True}, headers=admin.headers) as r:
        assert r.status == 200
        assert await r.json() == {"id_server_unbind_result": "success"}
    async with http.get("/_matrix/client/v3/account/whoami", headers=alice.headers) as response:
        assert response.status == 401
    async with http.get(f"{V2}/users/{alice.user_id}", headers=admin.headers) as response:
        assert (await response.json())["deactivated"] is True

    async with http.put(f"{V2}/users/{alice.user_id}", json={"deactivated": False, "password": "back again"},
                        headers=admin.headers) as response:
        assert response.status == 200
        assert (await response.json())["deactivated"] is False
    login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "back again"}
    async with http.post("/_matrix/client/v3/login", json=login) as response:
        assert response.status == 200


async def test_reset_password_and_admin_flag(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    reset = {"new_password": "fresh", "logout_devices": False}
    async with http.post(f"{V1}/reset_password/{alice.user_id}", json=reset, headers=admin.headers) as response:
        assert response.status == 200
    async with http.get("/_matrix/client/v3/account/whoami", headers=alice.headers) as response:
        assert response.status == 200
    async with http.post(f"{V1}/reset_password/{alice.user_id}", json={}, headers=admin.headers) as response:
        assert response.status == 400
    async with http.post(f"{V1}/reset_password/@ghost:{SERVER_NAME}", json=reset, headers=admin.headers) as r:
        assert r.status == 404

    async with http.get(f"{V1}/users/{alice.user_id}/admin", headers=admin.headers) as response:
        assert await response.json() == {"admin": False}
    async with http.put(f"{V1}/users/{alice.user_id}/admin", json={"admin": True}, headers=admin.headers) as r:
        assert r.status == 200
    async with http.get(f"{V1}/users/{alice.user_id}/admin", headers=alice.headers) as response:
        assert await response.json() == {"admin": True}
    async with http.put(f"{V1}/users/{admin.user_id}/admin", json={"admin": False}, headers=admin.headers) as r:
        assert r.status == 400


async def test_devices_joined_rooms_and_whois(http, make_user):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    devices = f"{V2}/users/{alice.user_id}/devices"
    async with http.get(devices, headers=admin.headers) as response:
        body = await response.json()
    assert body["total"] == 1 and body["devices"][0]["device_id"] == alice.device_id
    async with http.put(f"{devices}/{alice.device_id}", json={"display_name": "Phone"}, headers=admin.headers) as r:
        assert r.status == 200
    async with http.get(f"{devices}/{alice.device_id}", headers=admin.headers) as response:
        assert (await response.json())["display_name"] == "Phone"

    async with http.post("/_matrix/client/v3/createRoom", json={}, headers=alice.headers) as response:
        room_id = (await response.json())["room_id"]
    async with http.get(f"{V1}/users/{alice.user_id}/joined_rooms", headers=admin.headers) as response:
        assert await response.json() == {"joined_rooms": [room_id], "total": 1}
    pusher = {
        "kind": "http", "app_id": "org.example.app", "pushkey": "key1", "app_display_name": "App",
        "device_display_name": "Phone", "lang": "en", "data": {"url": "https://push.example.org/_matrix/push/v1/notify"},
    }
    async with http.post("/_matrix/client/v3/pushers/set", json=pusher, headers=alice.headers) as response:
        assert response.status == 200
    async with http.get(f"{V1}/users/{alice.user_id}/pushers", headers=admin.headers) as response:
        listed = await response.json()
    assert listed["total"] == 1 and listed["pushers"][0]["pushkey"] == "key1"
    async with http.get(f"{V1}/whois/{alice.user_id}", headers=admin.headers) as response:
        assert list((await response.json())["devices"]) == [alice.device_id]

    async with http.delete(f"{devices}/{alice.device_id}", headers=admin.headers) as response:
        assert response.status == 200
    async with http.get("/_matrix/client/v3/account/whoami", headers=alice.headers) as response:
        assert response.status == 401
    async with http.post(f"{V2}/users/{alice.user_id}/delete_devices", json={"devices": "x"},
                         headers=admin.headers) as response:
        assert response.status == 400
    async with http.get(f"{V2}/users/@ghost:{SERVER_NAME}/devices", headers=admin.headers) as response:
        assert response.status == 404


async def test_username_available(http, make_user):
    admin = await make_user("root", admin=True)
    await make_user("alice")
    available = f"{V1}/username_available"
    async with http.get(available, params={"username": "newcomer"}, headers=admin.headers) as response:
        assert await response.json() == {"available": True}
    async with http.get(available, params={"username": "alice"}, headers=admin.headers) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_USER_IN_USE"
    async with http.get(available, params={"username": "not valid"}, headers=admin.headers) as response:
        assert (await response.json())["errcode"] == "M_INVALID_USERNAME"
    async with http.get(available, headers=admin.headers) as response:
        assert response.status == 400
