"""device_lists in /sync and GET /keys/changes: key changes of users sharing a room, and
users who start or stop sharing rooms, on both engines."""

from __future__ import annotations

import asyncio

from tests.api.e2ee_helpers import (
    V3,
    CrossSigningSet,
    FakeDevice,
    create_room,
    join,
    leave,
    post,
    sync,
    upload_device_keys,
)


def device_lists(body):
    return body.get("device_lists", {"changed": [], "left": []})


async def keys_changes(http, user, since, to):
    async with http.get(f"{V3}/keys/changes", params={"from": since, "to": to}, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_key_changes_reach_users_sharing_a_room_only(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice, preset="public_chat")
    await join(http, bob, room_id)
    since = (await sync(http, bob))["next_batch"]

    await upload_device_keys(http, alice, FakeDevice(alice.user_id, alice.device_id))
    await upload_device_keys(http, carol, FakeDevice(carol.user_id, carol.device_id))
    body = await sync(http, bob, since=since)
    assert device_lists(body)["changed"] == [alice.user_id]
    assert device_lists(body)["left"] == []
    assert await keys_changes(http, bob, since, body["next_batch"]) == {"changed": [alice.user_id], "left": []}
    later = await sync(http, bob, since=body["next_batch"])
    assert device_lists(later)["changed"] == []


async def test_own_key_changes_reach_own_devices(http, make_user):
    alice = await make_user("alice")
    since = (await sync(http, alice))["next_batch"]
    await post(http, alice, "/keys/device_signing/upload", CrossSigningSet(alice.user_id).upload_body())
    body = await sync(http, alice, since=since)
    assert device_lists(body)["changed"] == [alice.user_id]


async def test_joining_and_leaving_change_who_is_tracked(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    alice_since = (await sync(http, alice))["next_batch"]
    bob_since = (await sync(http, bob))["next_batch"]

    await join(http, bob, room_id)
    alice_body = await sync(http, alice, since=alice_since)
    bob_body = await sync(http, bob, since=bob_since)
    assert device_lists(alice_body) == {"changed": [bob.user_id], "left": []}
    assert device_lists(bob_body) == {"changed": [alice.user_id], "left": []}

    await leave(http, bob, room_id)
    alice_after = await sync(http, alice, since=alice_body["next_batch"])
    bob_after = await sync(http, bob, since=bob_body["next_batch"])
    assert device_lists(alice_after) == {"changed": [], "left": [bob.user_id]}
    assert device_lists(bob_after) == {"changed": [], "left": [alice.user_id]}
    assert await keys_changes(http, alice, alice_body["next_batch"], alice_after["next_batch"]) == {
        "changed": [],
        "left": [bob.user_id],
    }


async def test_leaving_one_of_two_shared_rooms_is_not_leaving(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    first = await create_room(http, alice, preset="public_chat")
    second = await create_room(http, alice, preset="public_chat")
    await join(http, bob, first)
    await join(http, bob, second)
    since = (await sync(http, alice))["next_batch"]
    await leave(http, bob, second)
    body = await sync(http, alice, since=since)
    assert device_lists(body)["left"] == []


async def test_deleting_a_device_with_keys_is_a_change(http, make_user, homeserver):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    await join(http, bob, room_id)
    await homeserver.accounts.create_device(alice.user_id, "SECOND")
    token = await homeserver.accounts.create_access_token(alice.user_id, "SECOND")
    second = type(alice)(alice.user_id, "SECOND", token, alice.password)
    await upload_device_keys(http, second, FakeDevice(alice.user_id, "SECOND"))
    since = (await sync(http, bob))["next_batch"]
    await homeserver.devices.delete(alice.user_id, ["SECOND"])
    body = await sync(http, bob, since=since)
    assert device_lists(body)["changed"] == [alice.user_id]


async def test_a_waiting_sync_wakes_for_a_key_change(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    await join(http, bob, room_id)
    since = (await sync(http, bob))["next_batch"]
    waiting = asyncio.create_task(sync(http, bob, since=since, timeout=10000))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await upload_device_keys(http, alice, FakeDevice(alice.user_id, alice.device_id))
    body = await asyncio.wait_for(waiting, 5)
    assert device_lists(body)["changed"] == [alice.user_id]


async def test_keys_changes_needs_valid_tokens(http, make_user):
    alice = await make_user("alice")
    async with http.get(f"{V3}/keys/changes", params={"from": "s0"}, headers=alice.headers) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_MISSING_PARAM"
    async with http.get(f"{V3}/keys/changes", params={"from": "bad", "to": "s1"}, headers=alice.headers) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_INVALID_PARAM"
