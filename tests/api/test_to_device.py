"""PUT /sendToDevice and the to_device section of /sync: queued for offline devices,
idempotent per transaction, delivered until acknowledged, on both engines."""

from __future__ import annotations

import asyncio

from tests.api.e2ee_helpers import V3, post, request, sync


async def send_to_device(http, user, txn_id, messages, event_type="m.test", status=200):
    return await request(http, "PUT", user, f"/sendToDevice/{event_type}/{txn_id}", {"messages": messages}, status)


async def test_a_message_waits_for_its_device_and_is_delivered_until_acknowledged(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    first = await sync(http, bob)
    assert first["to_device"]["events"] == []
    await send_to_device(http, alice, "t1", {bob.user_id: {bob.device_id: {"n": 1}}})

    delivered = await sync(http, bob, since=first["next_batch"])
    assert delivered["to_device"]["events"] == [{"sender": alice.user_id, "type": "m.test", "content": {"n": 1}}]
    # The response was lost: syncing from the same token delivers the message again.
    again = await sync(http, bob, since=first["next_batch"])
    assert again["to_device"]["events"] == delivered["to_device"]["events"]
    # Moving on acknowledges it: the next sync brings only what is new.
    await send_to_device(http, alice, "t2", {bob.user_id: {bob.device_id: {"n": 2}}})
    after = await sync(http, bob, since=again["next_batch"])
    assert [e["content"] for e in after["to_device"]["events"]] == [{"n": 2}]
    # The acknowledged message is gone for good, even for a client replaying an old token.
    replay = await sync(http, bob, since=first["next_batch"])
    assert [e["content"] for e in replay["to_device"]["events"]] == [{"n": 2}]


async def test_an_initial_sync_delivers_what_is_queued(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    await send_to_device(http, alice, "t1", {bob.user_id: {bob.device_id: {"n": 1}}})
    await send_to_device(http, alice, "t2", {bob.user_id: {bob.device_id: {"n": 2}}})
    body = await sync(http, bob)
    assert [e["content"]["n"] for e in body["to_device"]["events"]] == [1, 2]


async def test_retried_transaction_is_sent_once(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    for _ in range(2):
        await send_to_device(http, alice, "same", {bob.user_id: {bob.device_id: {"n": 1}}})
    body = await sync(http, bob)
    assert len(body["to_device"]["events"]) == 1


async def test_wildcard_reaches_every_device_and_unknown_devices_nothing(http, make_user, homeserver):
    alice = await make_user("alice")
    bob = await make_user("bob")
    await homeserver.accounts.create_device(bob.user_id, "SECOND")
    token = await homeserver.accounts.create_access_token(bob.user_id, "SECOND")
    second = {"Authorization": f"Bearer {token}"}
    await send_to_device(http, alice, "t1", {bob.user_id: {"*": {"all": True}, "NOSUCH": {"x": 1}}})
    for headers in (bob.headers, second):
        async with http.get(f"{V3}/sync", headers=headers) as response:
            events = (await response.json())["to_device"]["events"]
        assert [e["content"] for e in events] == [{"all": True}]


async def test_a_waiting_sync_wakes_for_a_message(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    since = (await sync(http, bob))["next_batch"]
    waiting = asyncio.create_task(sync(http, bob, since=since, timeout=10000))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await send_to_device(http, alice, "t1", {bob.user_id: {bob.device_id: {"wake": True}}})
    body = await asyncio.wait_for(waiting, 5)
    assert body["to_device"]["events"][0]["content"] == {"wake": True}


async def test_large_queues_are_delivered_in_pages(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    for i in range(123):
        await send_to_device(http, alice, f"t{i}", {bob.user_id: {bob.device_id: {"n": i}}})
    first = await sync(http, bob)
    assert len(first["to_device"]["events"]) == 100
    second = await sync(http, bob, since=first["next_batch"])
    assert len(second["to_device"]["events"]) == 23
    numbers = [e["content"]["n"] for e in first["to_device"]["events"] + second["to_device"]["events"]]
    assert numbers == list(range(123))
    assert (await sync(http, bob, since=second["next_batch"])).get("to_device", {"events": []})["events"] == []


async def test_deleting_a_device_drops_its_queue(http, make_user, homeserver):
    alice = await make_user("alice")
    bob = await make_user("bob")
    await send_to_device(http, alice, "t1", {bob.user_id: {bob.device_id: {"n": 1}}})
    await homeserver.devices.delete(bob.user_id, [bob.device_id])
    await homeserver.accounts.create_device(bob.user_id, bob.device_id)
    token = await homeserver.accounts.create_access_token(bob.user_id, bob.device_id)
    async with http.get(f"{V3}/sync", headers={"Authorization": f"Bearer {token}"}) as response:
        assert (await response.json())["to_device"]["events"] == []


async def test_malformed_messages_are_refused(http, make_user):
    alice = await make_user("alice")
    body = await request(http, "PUT", alice, "/sendToDevice/m.test/t1", {}, 400)
    assert body["errcode"] == "M_MISSING_PARAM"
    body = await send_to_device(http, alice, "t2", {alice.user_id: "nope"}, status=400)
    assert body["errcode"] == "M_INVALID_PARAM"
    body = await send_to_device(http, alice, "t3", {"bad": {}}, status=400)
    assert body["errcode"] == "M_INVALID_PARAM"
    await post(http, alice, "/keys/claim", {"one_time_keys": {}})
