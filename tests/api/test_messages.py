"""GET /rooms/{roomId}/messages: pagination both ways with from/to, sync tokens, filters,
lazy-loaded members, history visibility and redactions, on both engines."""

from __future__ import annotations

import json

from tests.api.reading_helpers import (
    CLIENT,
    create_room,
    get_json,
    join,
    put_state,
    redact,
    send,
    set_membership,
)
from veche.services.streams import StreamToken


def messages_path(room_id):
    return f"{CLIENT}/v3/rooms/{room_id}/messages"


async def messages(http, user, room_id, **params):
    if "filter" in params:
        params["filter"] = json.dumps(params["filter"])
    status, body = await get_json(http, messages_path(room_id), user, {k: str(v) for k, v in params.items()})
    assert status == 200, body
    return body


async def paginate_all(http, user, room_id, direction, **params):
    """Every event, following `end` until it is omitted; returns (events, pages)."""
    events, pages = [], 0
    token = params.pop("from", None)
    while True:
        query = dict(params, dir=direction)
        if token is not None:
            query["from"] = token
        body = await messages(http, user, room_id, **query)
        pages += 1
        events += body["chunk"]
        if "end" not in body:
            return events, pages
        assert body["start"] == (token if token is not None else body["start"])
        token = body["end"]


def bodies(events):
    return [e["content"].get("body") for e in events if e["type"] == "m.room.message"]


async def test_paginates_backwards_and_forwards(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    sent = [await send(http, alice, room_id, f"m{i}") for i in range(25)]

    backwards, pages = await paginate_all(http, alice, room_id, "b", limit=10)
    assert pages >= 3
    assert bodies(backwards) == [f"m{i}" for i in reversed(range(25))]
    assert backwards[-1]["type"] == "m.room.create"
    forwards, _ = await paginate_all(http, alice, room_id, "f", limit=7)
    assert [e["event_id"] for e in forwards] == [e["event_id"] for e in reversed(backwards)]
    assert all(e["room_id"] == room_id for e in forwards)
    assert forwards[-1]["event_id"] == sent[-1]

    first = await messages(http, alice, room_id, dir="b", limit=5)
    assert bodies(first["chunk"]) == ["m24", "m23", "m22", "m21", "m20"]
    # `to` stops the walk: from the newest back to where the first page ended.
    second = await messages(http, alice, room_id, dir="b", limit=5, **{"from": first["end"]})
    bounded = await messages(http, alice, room_id, dir="b", limit=50, to=second["end"])
    assert bodies(bounded["chunk"]) == [f"m{i}" for i in range(24, 14, -1)]
    # Going forwards from a backward page's end replays what lies after it.
    forward = await messages(http, alice, room_id, dir="f", limit=3, **{"from": second["end"]})
    assert bodies(forward["chunk"]) == ["m15", "m16", "m17"]


async def test_default_limit_is_ten(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    for i in range(12):
        await send(http, alice, room_id, f"m{i}")
    body = await messages(http, alice, room_id, dir="b")
    assert len(body["chunk"]) == 10
    assert "end" in body


async def test_accepts_sync_tokens_and_rejects_garbage(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    for i in range(3):
        await send(http, alice, room_id, f"early{i}")
    token = StreamToken(events=homeserver.stores.events.current_stream_token).serialize()
    for i in range(3):
        await send(http, alice, room_id, f"late{i}")
    body = await messages(http, alice, room_id, dir="b", limit=3, **{"from": token})
    assert bodies(body["chunk"]) == ["early2", "early1", "early0"]
    body = await messages(http, alice, room_id, dir="f", limit=10, **{"from": token})
    assert bodies(body["chunk"]) == ["late0", "late1", "late2"]

    huge = 10**23  # past 64 bits: no SQL engine can bind it
    for bad in ("nonsense", "t1-x", "s-1", f"s{huge}_0", f"t{huge}-1", f"t1--{huge}", f"s{2**63}"):
        status, error = await get_json(http, messages_path(room_id), alice, {"dir": "b", "from": bad})
        assert status == 400 and error["errcode"] == "M_INVALID_PARAM"
    for params in ({"dir": "sideways"}, {"dir": "b", "limit": "many"}, {"dir": "b", "filter": "{"}):
        status, error = await get_json(http, messages_path(room_id), alice, params)
        assert status == 400, params
    status, error = await get_json(http, messages_path(room_id), alice, {})
    assert status == 400 and error["errcode"] == "M_MISSING_PARAM"


async def test_filters(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    await send(http, alice, room_id, "from alice")
    await send(http, bob, room_id, "from bob")
    await send(http, alice, room_id, {"msgtype": "m.image", "body": "pic", "url": "mxc://veche.test/abc"})
    await send(http, alice, room_id, {"body": "custom"}, event_type="org.example.custom")
    for _ in range(15):
        await put_state(http, alice, room_id, "org.example.noise", {"n": 1}, state_key="x")

    only_messages = await messages(http, alice, room_id, dir="b", limit=5, filter={"types": ["m.room.message"]})
    assert bodies(only_messages["chunk"]) == ["pic", "from bob", "from alice"]
    assert all(e["type"] == "m.room.message" for e in only_messages["chunk"])
    wildcard = await messages(http, alice, room_id, dir="b", limit=50, filter={"types": ["org.example.*"]})
    assert {e["type"] for e in wildcard["chunk"]} == {"org.example.custom", "org.example.noise"}
    not_bob = await messages(http, alice, room_id, dir="b", limit=50, filter={"not_senders": [bob.user_id]})
    assert "from bob" not in bodies(not_bob["chunk"])
    with_url = await messages(http, alice, room_id, dir="b", limit=50, filter={"contains_url": True})
    assert bodies(with_url["chunk"]) == ["pic"]
    without_url = await messages(
        http, alice, room_id, dir="b", limit=50, filter={"contains_url": False, "types": ["m.room.message"]}
    )
    assert bodies(without_url["chunk"]) == ["from bob", "from alice"]
    capped = await messages(http, alice, room_id, dir="b", limit=50, filter={"limit": 2})
    assert len(capped["chunk"]) == 2


async def test_lazy_loading_members(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    await join(homeserver, room_id, carol.user_id)
    await send(http, bob, room_id, "bob speaks")
    await send(http, alice, room_id, "alice speaks")

    body = await messages(http, alice, room_id, dir="b", limit=2, filter={"lazy_load_members": True})
    members = {e["state_key"]: e for e in body["state"]}
    assert set(members) == {alice.user_id, bob.user_id}
    assert all(e["type"] == "m.room.member" and e["content"]["membership"] == "join" for e in members.values())
    plain = await messages(http, alice, room_id, dir="b", limit=2)
    assert "state" not in plain


async def test_history_visibility_applies(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    await send(http, alice, room_id, "before bob")
    await join(homeserver, room_id, bob.user_id)
    await send(http, alice, room_id, "with bob")
    await set_membership(homeserver, room_id, bob.user_id, bob.user_id, "leave")
    await send(http, alice, room_id, "after bob")

    seen, _ = await paginate_all(http, bob, room_id, "b", limit=3)
    assert bodies(seen) == ["with bob"]
    seen, _ = await paginate_all(http, bob, room_id, "f", limit=3)
    assert bodies(seen) == ["with bob"]
    status, error = await get_json(http, messages_path(room_id), carol, {"dir": "b"})
    assert status == 403 and error["errcode"] == "M_FORBIDDEN"

    await put_state(http, alice, room_id, "m.room.history_visibility", {"history_visibility": "world_readable"})
    await send(http, alice, room_id, "public")
    seen, _ = await paginate_all(http, carol, room_id, "b", limit=5)
    assert bodies(seen) == ["public"]


async def test_shared_history_for_late_joiner(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await send(http, alice, room_id, "old news")
    await join(homeserver, room_id, bob.user_id)
    seen, _ = await paginate_all(http, bob, room_id, "b")
    assert bodies(seen) == ["old news"]


async def test_redacted_events_are_served_pruned(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    message = await send(http, alice, room_id, "regret")
    redaction = await redact(http, alice, room_id, message, reason="oops")
    body = await messages(http, alice, room_id, dir="b", limit=2)
    assert [e["event_id"] for e in body["chunk"]] == [redaction, message]
    pruned = body["chunk"][1]
    assert pruned["content"] == {}
    assert pruned["unsigned"]["redacted_because"]["event_id"] == redaction
    assert body["chunk"][0]["unsigned"]["transaction_id"].startswith("r")


async def test_ignored_users_are_dropped(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    await send(http, bob, room_id, "spam")
    await send(http, alice, room_id, "hello")
    path = f"{CLIENT}/v3/user/{alice.user_id}/account_data/m.ignored_user_list"
    async with http.put(path, json={"ignored_users": {bob.user_id: {}}}, headers=alice.headers) as response:
        assert response.status == 200
    seen, _ = await paginate_all(http, alice, room_id, "b")
    assert bodies(seen) == ["hello"]
    # Bob's state (his join) is kept.
    assert any(e["type"] == "m.room.member" and e["state_key"] == bob.user_id for e in seen)
