"""Push actions of local events are evaluated before they are persisted, in the same
transaction: within one batch of queued sends, each event sees the room as it is just after
it (members who joined or left earlier in the batch, a power-level change)."""

from __future__ import annotations

import asyncio

from tests.api.userdata_helpers import call, create_room, join
from veche.services.rooms.sending import EventDraft


def _text(body: str) -> EventDraft:
    return EventDraft("m.room.message", {"msgtype": "m.text", "body": body})


async def _notified(http, user) -> list[str]:
    status, body = await call(http, "GET", "/notifications", user)
    assert status == 200, body
    return [n["event"]["event_id"] for n in body["notifications"]]


async def test_a_batch_counts_the_joins_and_leaves_before_each_event(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, carol)
    sender = homeserver.sender

    # Queued together, so built and persisted as one batch, in this order.
    sends = [
        sender.send(room_id, alice.user_id, _text("before bob")),
        sender.send(room_id, bob.user_id, EventDraft("m.room.member", {"membership": "join"}, bob.user_id)),
        sender.send(room_id, carol.user_id, EventDraft("m.room.member", {"membership": "leave"}, carol.user_id)),
        sender.send(room_id, alice.user_id, _text("after bob")),
    ]
    before_bob, bob_join, carol_leave, after_bob = await asyncio.gather(*sends)
    assert bob_join.prev_event_ids == [before_bob.event_id]
    assert after_bob.prev_event_ids == [carol_leave.event_id]

    assert await _notified(http, bob) == [after_bob.event_id]
    assert await _notified(http, carol) == [before_bob.event_id]


async def test_a_power_level_change_in_a_batch_applies_to_the_events_after_it(
    http, homeserver, make_user
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob)
    await join(homeserver, room_id, carol)
    levels = (await homeserver.stores.events.get_current_state_event(room_id, "m.room.power_levels")).content
    sender = homeserver.sender

    # @room highlights only from senders at the room notification level (50 by default),
    # which bob reaches in the middle of the batch.
    room_mention = {"msgtype": "m.text", "body": "@room look", "m.mentions": {"room": True}}
    promoted = {**levels, "users": {**levels.get("users", {}), bob.user_id: 50}}
    sends = [
        sender.send(room_id, bob.user_id, EventDraft("m.room.message", room_mention)),
        sender.send(room_id, alice.user_id, EventDraft("m.room.power_levels", promoted, "")),
        sender.send(room_id, bob.user_id, EventDraft("m.room.message", room_mention)),
    ]
    too_early, _, allowed = await asyncio.gather(*sends)

    status, body = await call(http, "GET", "/notifications", carol)
    assert status == 200, body
    highlighted = {
        n["event"]["event_id"]
        for n in body["notifications"]
        if any(isinstance(a, dict) and a.get("set_tweak") == "highlight" and a.get("value", True) for a in n["actions"])
    }
    assert allowed.event_id in highlighted
    assert too_early.event_id not in highlighted
