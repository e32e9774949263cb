"""GET /v1/rooms/{roomId}/relations/… and /threads: paging, filters, recursion, participation."""

from __future__ import annotations

from tests.api.reading_helpers import CLIENT, create_room, get_json, join, put_state, redact, send, set_membership


def relations_path(room_id, event_id, *tail):
    return "/".join([f"{CLIENT}/v1/rooms/{room_id}/relations/{event_id}", *tail])


def in_thread(root, body):
    return {"msgtype": "m.text", "body": body, "m.relates_to": {"rel_type": "m.thread", "event_id": root}}


def reaction(target, key):
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}}


async def test_relations_paging_and_filters(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    root = await send(http, alice, room_id, "root")
    replies = [await send(http, bob, room_id, in_thread(root, f"r{i}")) for i in range(7)]
    like = await send(http, alice, room_id, reaction(root, "👍"), event_type="m.reaction")
    await send(http, alice, room_id, "unrelated")

    # Newest first by default, three at a time.
    seen, token, pages = [], None, 0
    while True:
        params = {"limit": "3", **({"from": token} if token else {})}
        status, body = await get_json(http, relations_path(room_id, root, "m.thread"), alice, params)
        assert status == 200, body
        pages += 1
        seen += [e["event_id"] for e in body["chunk"]]
        if token:
            assert body["prev_batch"] == token
        if "next_batch" not in body:
            break
        token = body["next_batch"]
    assert seen == replies[::-1] and pages == 3
    assert "recursion_depth" not in body

    status, body = await get_json(http, relations_path(room_id, root, "m.thread"), alice, {"dir": "f", "limit": "4"})
    assert [e["event_id"] for e in body["chunk"]] == replies[:4]
    status, rest = await get_json(
        http, relations_path(room_id, root, "m.thread"), alice, {"dir": "f", "from": body["next_batch"]}
    )
    assert [e["event_id"] for e in rest["chunk"]] == replies[4:]

    status, body = await get_json(http, relations_path(room_id, root), alice)
    assert {e["event_id"] for e in body["chunk"]} == {*replies, like}
    status, body = await get_json(http, relations_path(room_id, root, "m.annotation", "m.reaction"), alice)
    assert [e["event_id"] for e in body["chunk"]] == [like]
    status, body = await get_json(http, relations_path(room_id, root, "m.annotation", "m.room.message"), alice)
    assert body["chunk"] == []

    # Redacting a child breaks its relation: it is no longer listed.
    await redact(http, bob, room_id, replies[0])
    status, body = await get_json(http, relations_path(room_id, root, "m.thread"), alice, {"limit": "50"})
    assert replies[0] not in [e["event_id"] for e in body["chunk"]]

    status, error = await get_json(http, relations_path(room_id, "$missing"), alice)
    assert status == 404
    status, error = await get_json(http, relations_path(room_id, root), alice, {"dir": "up"})
    assert status == 400


async def test_recursive_relations(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    root = await send(http, alice, room_id, "root")
    reply = await send(http, alice, room_id, in_thread(root, "reply"))
    edit = await send(
        http, alice, room_id,
        {"body": "* fixed", "m.new_content": {"body": "fixed"},
         "m.relates_to": {"rel_type": "m.replace", "event_id": reply}},
    )
    status, body = await get_json(http, relations_path(room_id, root), alice, {"recurse": "true"})
    assert status == 200
    assert [e["event_id"] for e in body["chunk"]] == [edit, reply]
    assert body["recursion_depth"] == 3
    status, body = await get_json(http, relations_path(room_id, root), alice, {"recurse": "false"})
    assert [e["event_id"] for e in body["chunk"]] == [reply]
    assert body["recursion_depth"] == 1
    # The reply is served with its edit bundled.
    assert body["chunk"][0]["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit


async def test_relations_respect_history_visibility(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    root = await send(http, alice, room_id, "root")
    await send(http, alice, room_id, in_thread(root, "early"))
    await join(homeserver, room_id, bob.user_id)
    status, error = await get_json(http, relations_path(room_id, root), bob)
    assert status == 404


async def test_bundles_leave_out_what_the_requester_may_not_see(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    await join(homeserver, room_id, bob.user_id)
    root = await send(http, alice, room_id, "root")
    await send(http, alice, room_id, in_thread(root, "while bob is here"))
    await set_membership(homeserver, room_id, bob.user_id, bob.user_id, "leave")
    await send(http, alice, room_id, in_thread(root, "after bob left"))
    edit = {"msgtype": "m.text", "body": "* root", "m.new_content": {"msgtype": "m.text", "body": "root"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": root}}
    await send(http, alice, room_id, edit)

    status, served = await get_json(http, f"{CLIENT}/v3/rooms/{room_id}/event/{root}", bob)
    assert status == 200
    relations = served["unsigned"]["m.relations"]
    assert "m.replace" not in relations
    assert relations["m.thread"]["count"] == 1
    assert relations["m.thread"]["latest_event"]["content"]["body"] == "while bob is here"
    status, served = await get_json(http, f"{CLIENT}/v3/rooms/{room_id}/event/{root}", alice)
    assert served["unsigned"]["m.relations"]["m.replace"]["content"]["body"] == "* root"
    assert served["unsigned"]["m.relations"]["m.thread"]["count"] == 2


async def test_threads_list(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    roots = [await send(http, alice if i % 2 == 0 else bob, room_id, f"root{i}") for i in range(5)]
    await send(http, bob, room_id, in_thread(roots[0], "bob in 0"))
    await send(http, bob, room_id, in_thread(roots[1], "bob in 1"))
    await send(http, bob, room_id, in_thread(roots[3], "bob in 3"))
    await send(http, alice, room_id, in_thread(roots[0], "alice bumps 0"))
    path = f"{CLIENT}/v1/rooms/{room_id}/threads"

    status, body = await get_json(http, path, alice)
    assert status == 200
    assert [e["event_id"] for e in body["chunk"]] == [roots[0], roots[3], roots[1]]
    summary = body["chunk"][0]["unsigned"]["m.relations"]["m.thread"]
    assert summary["count"] == 2 and summary["latest_event"]["content"]["body"] == "alice bumps 0"
    assert summary["current_user_participated"] is True

    status, body = await get_json(http, path, alice, {"include": "participated"})
    assert [e["event_id"] for e in body["chunk"]] == [roots[0]]
    status, body = await get_json(http, path, bob, {"include": "participated"})
    assert [e["event_id"] for e in body["chunk"]] == [roots[0], roots[3], roots[1]]

    status, first = await get_json(http, path, alice, {"limit": "2"})
    assert [e["event_id"] for e in first["chunk"]] == [roots[0], roots[3]]
    status, second = await get_json(http, path, alice, {"limit": "2", "from": first["next_batch"]})
    assert [e["event_id"] for e in second["chunk"]] == [roots[1]]
    assert "next_batch" not in second

    # "²" passes str.isdigit() but not int(); 10**23 is past what SQL binds.
    for bad in ({"include": "mine"}, {"from": "zzz"}, {"from": "²"}, {"from": str(10**23)}):
        status, _ = await get_json(http, path, alice, bad)
        assert status == 400
    stranger = await make_user("carol")
    status, _ = await get_json(http, path, stranger)
    assert status == 403
