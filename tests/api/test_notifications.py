"""Push rule evaluation of new events, unread counts in /sync and GET /notifications."""

from __future__ import annotations

import json
from typing import Any

from tests.api.userdata_helpers import V3, call, create_room, join, q, send_text
from veche.services.rooms.sending import EventDraft

THREAD_FILTER = {"room": {"timeline": {"unread_thread_notifications": True}}}


async def sync(http, user, since: str | None = None, sync_filter: dict | None = None) -> dict[str, Any]:
    params = {"timeout": "0"}
    if since is not None:
        params["since"] = since
    if sync_filter is not None:
        params["filter"] = json.dumps(sync_filter)
    async with http.get(f"{V3}/sync", params=params, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def counts(body: dict[str, Any], room_id: str) -> dict[str, int] | None:
    room = body.get("rooms", {}).get("join", {}).get(room_id)
    return None if room is None else room.get("unread_notifications")


async def send(http, user, room_id: str, event_type: str, content: dict[str, Any]) -> str:
    status, body = await call(http, "PUT", f"/rooms/{q(room_id)}/send/{event_type}/t{id(content)}", user, content)
    assert status == 200, body
    return body["event_id"]


async def notifications(http, user, query: str = "") -> dict[str, Any]:
    status, body = await call(http, "GET", f"/notifications{query}", user)
    assert status == 200, body
    return body


async def two_people(http, homeserver, make_user, *, third: bool = False):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob)
    if third:
        await join(homeserver, room_id, await make_user("carol"))
    return alice, bob, room_id


async def test_counts_go_up_then_back_to_zero_after_a_receipt(http, homeserver, make_user) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    first = await sync(http, bob)
    assert counts(first, room_id) == {"notification_count": 0, "highlight_count": 0}

    await send_text(http, alice, room_id, "one")
    body = await sync(http, bob, first["next_batch"])
    assert counts(body, room_id) == {"notification_count": 1, "highlight_count": 0}
    mention = await send_text(http, alice, room_id, "hey bob", **{"m.mentions": {"user_ids": [bob.user_id]}})
    body = await sync(http, bob, body["next_batch"])
    assert counts(body, room_id) == {"notification_count": 2, "highlight_count": 1}
    # The sender never counts their own events.
    assert counts(await sync(http, alice), room_id) == {"notification_count": 0, "highlight_count": 0}

    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(mention)}", bob, {}))[0] == 200
    body = await sync(http, bob, body["next_batch"])
    assert counts(body, room_id) == {"notification_count": 0, "highlight_count": 0}
    # Nothing new afterwards: the room is left out again.
    assert counts(await sync(http, bob, body["next_batch"]), room_id) is None


async def test_private_receipt_and_sending_also_mark_read(http, homeserver, make_user) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    last = await send_text(http, alice, room_id, "one")
    assert counts(await sync(http, bob), room_id)["notification_count"] == 1
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read.private/{q(last)}", bob, {}))[0] == 200
    assert counts(await sync(http, bob), room_id)["notification_count"] == 0
    await send_text(http, alice, room_id, "two")
    assert counts(await sync(http, bob), room_id)["notification_count"] == 1
    await send_text(http, bob, room_id, "my answer")
    assert counts(await sync(http, bob), room_id)["notification_count"] == 0


async def test_thread_counts(http, homeserver, make_user) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    root = await send_text(http, alice, room_id, "root")
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
    await send_text(http, alice, room_id, "in thread 1", **thread)
    reply = await send_text(http, alice, room_id, "in thread 2", **thread)
    body = await sync(http, bob, sync_filter=THREAD_FILTER)
    room = body["rooms"]["join"][room_id]
    assert room["unread_notifications"] == {"notification_count": 1, "highlight_count": 0}
    assert room["unread_thread_notifications"] == {root: {"notification_count": 2, "highlight_count": 0}}
    # Without the filter flag, everything is summed.
    assert counts(await sync(http, bob), room_id)["notification_count"] == 3

    # A threaded receipt clears only its thread.
    receipt = f"/rooms/{q(room_id)}/receipt/m.read/{q(reply)}"
    assert (await call(http, "POST", receipt, bob, {"thread_id": root}))[0] == 200
    body = await sync(http, bob, body["next_batch"], THREAD_FILTER)
    room = body["rooms"]["join"][room_id]
    assert room["unread_notifications"]["notification_count"] == 1
    assert "unread_thread_notifications" not in room
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(root)}", bob, {"thread_id": "main"}))[0] == 200
    assert counts(await sync(http, bob), room_id)["notification_count"] == 0


async def test_counts_read_back_after_a_receipt_combine_receipts_and_own_events_per_thread(
    http, homeserver, make_user
) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    root = await send_text(http, alice, room_id, "root")
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
    await send_text(http, alice, room_id, "in thread 1", **thread)
    main_1 = await send_text(http, alice, room_id, "main 1")
    await send_text(http, bob, room_id, "bob in thread", **thread)
    reply = await send_text(http, alice, room_id, "in thread 2", **thread)
    await send_text(http, alice, room_id, "main 2")

    def unread(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        room = body["rooms"]["join"][room_id]
        return room["unread_notifications"]["notification_count"], room.get("unread_thread_notifications", {})

    # Each receipt makes the next sync read the counts from the database again. An
    # unthreaded receipt reads the main timeline and, below the own reply, the thread.
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read.private/{q(main_1)}", bob, {}))[0] == 200
    one = {"notification_count": 1, "highlight_count": 0}
    assert unread(await sync(http, bob, sync_filter=THREAD_FILTER)) == (1, {root: one})
    # Their own main-timeline message reads the main timeline only.
    await send_text(http, bob, room_id, "bob in main")
    await send_text(http, alice, room_id, "main 3")
    await send_text(http, alice, room_id, "in thread 3", **thread)
    receipt = f"/rooms/{q(room_id)}/receipt/m.read/{q(reply)}"
    assert (await call(http, "POST", receipt, bob, {"thread_id": root}))[0] == 200
    assert unread(await sync(http, bob, sync_filter=THREAD_FILTER)) == (1, {root: one})


async def test_default_rules_for_one_to_one_encrypted_edits_and_notices(http, homeserver, make_user) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user)
    await send_text(http, alice, room_id, "hello")
    await send(http, alice, room_id, "m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"})
    original = await send_text(http, alice, room_id, "tyop")
    await send_text(
        http, alice, room_id, "* typo",
        **{"m.new_content": {"msgtype": "m.text", "body": "typo"}, "m.relates_to": {"rel_type": "m.replace", "event_id": original}},
    )
    await send_text(http, alice, room_id, "beep", msgtype="m.notice")
    await send(http, alice, room_id, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": original, "key": "👍"}})
    listed = (await notifications(http, bob))["notifications"]
    assert [n["event"]["type"] for n in listed] == ["m.room.message", "m.room.encrypted", "m.room.message"]
    sound = {"set_tweak": "sound", "value": "default"}
    assert all(n["actions"] == ["notify", sound] for n in listed)
    assert listed[0]["event"]["event_id"] == original and listed[0]["room_id"] == room_id
    assert all(n["read"] is False and isinstance(n["ts"], int) for n in listed)
    assert "room_id" not in listed[0]["event"]


async def test_group_rooms_room_mentions_need_power(http, homeserver, make_user) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    carol = "@carol:veche.test"
    await send_text(http, bob, room_id, "@room from bob", **{"m.mentions": {"room": True}})
    await send_text(http, alice, room_id, "@room from alice", **{"m.mentions": {"room": True}})
    await send(http, bob, room_id, "m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"})
    hs_counts = await homeserver.notification_counts.unread(carol, [room_id], homeserver.stores.events.current_stream_token)
    main = hs_counts[room_id]["main"]
    assert (main.notifications, main.highlights) == (3, 1)
    carol_user = type("U", (), {"user_id": carol})
    listed = await homeserver.notification_counts.list_notifications(carol_user, from_token=None, limit=None, only="highlight")
    assert [n["event"]["content"]["body"] for n in listed["notifications"]] == ["@room from alice"]


async def test_invites_notify_the_invitee(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat")
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/invite", alice, {"user_id": bob.user_id}))[0] == 200
    listed = (await notifications(http, bob))["notifications"]
    assert len(listed) == 1
    assert listed[0]["event"]["type"] == "m.room.member" and listed[0]["event"]["state_key"] == bob.user_id


async def test_user_rules_apply(http, homeserver, make_user) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    await homeserver.sender.send(
        room_id, bob.user_id, EventDraft("m.room.member", {"membership": "join", "displayname": "Bobby Tables"}, bob.user_id)
    )
    highlight = ["notify", {"set_tweak": "highlight"}]
    rules = {
        "/pushrules/global/override/name": {"conditions": [{"kind": "contains_display_name"}], "actions": highlight},
        "/pushrules/global/content/tea": {"pattern": "t?a", "actions": highlight},
        "/pushrules/global/override/small": {
            "conditions": [
                {"kind": "room_member_count", "is": "<4"},
                {"kind": "event_property_is", "key": "content.flavour", "value": "secret"},
            ],
            "actions": highlight,
        },
        f"/pushrules/global/room/{q(room_id)}": {"actions": []},
    }
    for path, rule in rules.items():
        assert (await call(http, "PUT", path, bob, rule))[0] == 200
    await send_text(http, alice, room_id, "ping bobby tables!")
    await send_text(http, alice, room_id, "time for TEA")
    await send_text(http, alice, room_id, "psst", flavour="secret")
    await send_text(http, alice, room_id, "nothing here")  # muted by the room rule
    listed = (await notifications(http, bob))["notifications"]
    assert [n["event"]["content"]["body"] for n in listed] == ["psst", "time for TEA", "ping bobby tables!"]
    assert all(n["actions"] == highlight for n in listed)
    body = await sync(http, bob)
    assert counts(body, room_id) == {"notification_count": 3, "highlight_count": 3}


async def test_notifications_pagination_and_read_flags(http, homeserver, make_user) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    ids = [await send_text(http, alice, room_id, f"m{i}") for i in range(5)]
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(ids[1])}", bob, {}))[0] == 200
    seen: list[tuple[str, bool]] = []
    query = "?limit=2"
    while True:
        page = await notifications(http, bob, query)
        seen += [(n["event"]["event_id"], n["read"]) for n in page["notifications"]]
        if "next_token" not in page:
            break
        query = f"?limit=2&from={page['next_token']}"
    assert seen == [(ids[4], False), (ids[3], False), (ids[2], False), (ids[1], True), (ids[0], True)]
    assert (await call(http, "GET", "/notifications?from=zzz", bob))[0] == 400
    for too_big in (2**63, -(2**63) - 1, 10**30):
        assert (await call(http, "GET", f"/notifications?from={too_big}", bob))[0] == 400
    assert (await notifications(http, bob, "?only=highlight"))["notifications"] == []


def record_statements(homeserver, monkeypatch) -> list[str]:
    """The SQL of every read the server makes from now on, in order."""
    statements: list[str] = []
    read = homeserver.db.fetchall

    async def counted(sql: str, *args: Any) -> list[Any]:
        statements.append(sql)
        return await read(sql, *args)

    monkeypatch.setattr(homeserver.db, "fetchall", counted)
    return statements


async def test_a_woken_sync_reads_its_counts_from_memory(http, homeserver, make_user, monkeypatch) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user, third=True)
    body = await sync(http, bob)
    await send_text(http, alice, room_id, "one")
    body = await sync(http, bob, body["next_batch"])
    assert counts(body, room_id) == {"notification_count": 1, "highlight_count": 0}
    statements = record_statements(homeserver, monkeypatch)
    await send_text(http, alice, room_id, "two", **{"m.mentions": {"user_ids": [bob.user_id]}})
    statements.clear()
    body = await sync(http, bob, body["next_batch"])
    assert counts(body, room_id) == {"notification_count": 2, "highlight_count": 1}
    assert statements == []
    # A receipt moves the read position: the next count is read again, and right.
    last = body["rooms"]["join"][room_id]["timeline"]["events"][-1]["event_id"]
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read.private/{q(last)}", bob, {}))[0] == 200
    body = await sync(http, bob, body["next_batch"])
    assert counts(body, room_id) == {"notification_count": 0, "highlight_count": 0}
    # Their own message marks the room read without reading the count either (its
    # transaction ID, for the sender's own timeline, is another matter).
    await send_text(http, alice, room_id, "three")
    await send_text(http, bob, room_id, "mine")
    statements.clear()
    body = await sync(http, bob, body["next_batch"])
    assert counts(body, room_id) == {"notification_count": 0, "highlight_count": 0}
    assert [s for s in statements if "event_push_actions" in s] == []


async def test_a_sync_woken_by_anothers_receipt_reads_no_read_position(
    http, homeserver, make_user, monkeypatch
) -> None:
    alice, bob, room_id = await two_people(http, homeserver, make_user)
    last = await send_text(http, alice, room_id, "one")
    body = await sync(http, bob)
    assert counts(body, room_id)["notification_count"] == 1
    statements = record_statements(homeserver, monkeypatch)
    # Alice's receipt wakes Bob's sync; his own read position did not move.
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(last)}", alice, {}))[0] == 200
    statements.clear()
    body = await sync(http, bob, body["next_batch"])
    assert room_id in body["rooms"]["join"]
    assert [s for s in statements if "FROM receipts WHERE user_id" in s] == []
    # His own receipt still resets his count.
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(last)}", bob, {}))[0] == 200
    assert counts(await sync(http, bob, body["next_batch"]), room_id)["notification_count"] == 0
