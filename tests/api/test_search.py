"""Server-side search (search.yaml) on SQLite FTS5 and PostgreSQL full-text search."""

from __future__ import annotations

from typing import Any

from tests.api.userdata_helpers import call, create_room, join, q, send_text


async def search(http, user, criteria: dict[str, Any], next_batch: str | None = None) -> dict[str, Any]:
    path = "/search" + (f"?next_batch={q(next_batch)}" if next_batch else "")
    status, body = await call(http, "POST", path, user, {"search_categories": {"room_events": criteria}})
    assert status == 200, body
    return body["search_categories"]["room_events"]


def bodies(result: dict[str, Any]) -> list[str]:
    return [r["result"]["content"].get("body") for r in result["results"]]


async def fox_room(http, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="The fox den", topic="Where foxes meet")
    ids = {}
    for text in ["the quick brown fox", "a lazy dog sleeps", "fox fox fox jumps over the fox", "nothing to see", "a fox"]:
        ids[text] = await send_text(http, alice, room_id, text)
    return alice, room_id, ids


async def test_rank_and_recent_ordering(http, make_user) -> None:
    alice, room_id, ids = await fox_room(http, make_user)
    ranked = await search(http, alice, {"search_term": "fox", "keys": ["content.body"]})
    assert set(bodies(ranked)) == {"the quick brown fox", "fox fox fox jumps over the fox", "a fox"}
    assert bodies(ranked)[0] == "fox fox fox jumps over the fox"
    ranks = [r["rank"] for r in ranked["results"]]
    assert ranks == sorted(ranks, reverse=True) and all(isinstance(r, float) for r in ranks)
    assert ranked["count"] == 3
    assert ranked["highlights"] == ["fox"]
    assert "next_batch" not in ranked
    assert ranked["results"][0]["result"]["room_id"] == room_id

    recent = await search(http, alice, {"search_term": "fox", "keys": ["content.body"], "order_by": "recent"})
    assert bodies(recent) == ["a fox", "fox fox fox jumps over the fox", "the quick brown fox"]

    # Every word must match; stemming finds "sleeping" for "sleeps".
    assert bodies(await search(http, alice, {"search_term": "lazy sleeping"})) == ["a lazy dog sleeps"]
    assert bodies(await search(http, alice, {"search_term": 'fox" OR dog'})) == []


async def test_keys_select_names_and_topics(http, make_user) -> None:
    alice, room_id, _ = await fox_room(http, make_user)
    names = await search(http, alice, {"search_term": "den", "keys": ["content.name"]})
    assert [r["result"]["type"] for r in names["results"]] == ["m.room.name"]
    topics = await search(http, alice, {"search_term": "foxes", "keys": ["content.topic"]})
    assert [r["result"]["content"]["topic"] for r in topics["results"]] == ["Where foxes meet"]
    everything = await search(http, alice, {"search_term": "fox", "order_by": "recent"})
    assert {r["result"]["type"] for r in everything["results"]} == {"m.room.message", "m.room.name", "m.room.topic"}
    status, _ = await call(http, "POST", "/search", alice, {"search_categories": {"room_events": {"search_term": "x", "keys": ["sender"]}}})
    assert status == 400


async def test_pagination_in_both_orders(http, make_user) -> None:
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    sent = [await send_text(http, alice, room_id, "tea " * (i % 4 + 1) + f"number {i}") for i in range(9)]
    for order in ("rank", "recent"):
        criteria = {"search_term": "tea", "order_by": order, "filter": {"limit": 2}}
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            page = await search(http, alice, criteria, token)
            assert len(page["results"]) <= 2
            seen += [r["result"]["event_id"] for r in page["results"]]
            pages += 1
            token = page.get("next_batch")
            if token is None:
                break
        assert sorted(seen) == sorted(sent) and len(seen) == 9, order
        assert pages >= 5
        if order == "recent":
            assert seen == sent[::-1]
    status, _ = await call(http, "POST", "/search?next_batch=bogus", alice, {"search_categories": {"room_events": {"search_term": "tea"}}})
    assert status == 400


async def test_only_visible_and_unredacted_events(http, homeserver, make_user) -> None:
    alice, room_id, ids = await fox_room(http, make_user)
    bob = await make_user("bob")
    assert (await search(http, bob, {"search_term": "fox"}))["results"] == []
    private = await create_room(http, alice, preset="private_chat", initial_state=[
        {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}
    ])
    await send_text(http, alice, private, "secret fox before bob")
    await join_invited(http, homeserver, alice, bob, private)
    await send_text(http, alice, private, "public fox after bob")
    assert bodies(await search(http, bob, {"search_term": "fox"})) == ["public fox after bob"]

    target = ids["a fox"]
    status, _ = await call(http, "PUT", f"/rooms/{q(room_id)}/redact/{q(target)}/r1", alice, {"reason": "oops"})
    assert status == 200
    result = await search(http, alice, {"search_term": "fox", "keys": ["content.body"], "filter": {"rooms": [room_id]}})
    assert target not in [r["result"]["event_id"] for r in result["results"]]
    assert len(result["results"]) == 2


async def join_invited(http, homeserver, inviter, invitee, room_id: str) -> None:
    assert (await call(http, "POST", f"/rooms/{q(room_id)}/invite", inviter, {"user_id": invitee.user_id}))[0] == 200
    await join(homeserver, room_id, invitee)


async def test_context_state_and_groups(http, homeserver, make_user) -> None:
    alice, room_id, ids = await fox_room(http, make_user)
    bob = await make_user("bob")
    await join(homeserver, room_id, bob)
    bob_fox = await send_text(http, bob, room_id, "bob has a fox too")
    criteria = {
        "search_term": "fox",
        "keys": ["content.body"],
        "order_by": "recent",
        "event_context": {"before_limit": 1, "after_limit": 1, "include_profile": True},
        "include_state": True,
        "groupings": {"group_by": [{"key": "room_id"}, {"key": "sender"}]},
    }
    result = await search(http, alice, criteria)
    first = result["results"][0]
    assert first["result"]["event_id"] == bob_fox
    context = first["context"]
    assert [e["type"] for e in context["events_before"]] == ["m.room.member"]
    assert context["events_after"] == []
    assert set(context["profile_info"]) >= {bob.user_id}
    assert isinstance(context["start"], str)
    older = result["results"][1]["context"]
    assert [e["content"].get("body") for e in older["events_before"]] == ["nothing to see"]
    state_types = {e["type"] for e in result["state"][room_id]}
    assert {"m.room.create", "m.room.name", "m.room.member"} <= state_types
    groups = result["groups"]
    assert groups["room_id"][room_id]["results"] == [r["result"]["event_id"] for r in result["results"]]
    assert groups["sender"][bob.user_id] == {"results": [bob_fox], "order": 1}
    assert len(groups["sender"][alice.user_id]["results"]) == 3


async def test_encrypted_rooms_are_not_searched(http, make_user) -> None:
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="hidden fox", initial_state=[
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
    ])
    assert room_id
    assert (await search(http, alice, {"search_term": "fox"}))["results"] == []
