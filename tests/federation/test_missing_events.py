"""Two Veche servers over TLS: a PDU arriving after a gap makes the receiver fetch what
it lacks from the sender — the missing events through /get_missing_events, and for a
gap too wide for that, the state at the oldest fetched event through /state_ids and
/event."""

from __future__ import annotations

import pytest

from veche.homeserver import HomeServer
from veche.protocol.events import Event
from veche.services.rooms.sending import EventDraft

from .room_setup import join_remote_user
from .test_send import timeline_of, wait_for


async def _send_unannounced(a: HomeServer, room_id: str, sender: str, count: int) -> list[Event]:
    """Events A persists without queueing them for other servers (as if lost)."""
    hook = a.federation_events.sender.on_event
    a.sender.after_persist.remove(hook)
    try:
        return [
            await a.sender.send(room_id, sender, EventDraft("m.room.message", {"body": f"unsent {i}"}))
            for i in range(count)
        ]
    finally:
        a.sender.after_persist.append(hook)


@pytest.mark.parametrize("gap", [3, 15])
async def test_gap_is_fetched_from_the_sender(servers: tuple[HomeServer, HomeServer], gap: int) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "public_chat"})
    join = await join_remote_user(a, b, room_id, bob)
    lost = await _send_unannounced(a, room_id, alice, gap)
    topic = await a.sender.send(room_id, alice, EventDraft("m.room.topic", {"topic": "after the gap"}, ""))

    async def b_has_topic() -> bool:
        return topic.event_id in await timeline_of(b, room_id)

    await wait_for(b_has_topic)
    metas = await b.stores.events.get_event_meta([e.event_id for e in lost])
    fetched = [e.event_id for e in lost if e.event_id in metas and not metas[e.event_id].outlier]
    # Up to the /get_missing_events limit the nearest lost events join B's timeline, in order.
    assert fetched == [e.event_id for e in lost][-min(gap, 10):]
    timeline = await timeline_of(b, room_id)
    assert [t for t in timeline if t in fetched] == fetched
    extremities = set(await b.stores.events.get_forward_extremities(room_id))
    if gap <= 10:
        assert extremities == {topic.event_id}
    else:
        # B never saw that the oldest lost event follows its own join, so both stay
        # extremities until B's next event cites them.
        assert extremities == {topic.event_id, join.event_id}
    assert await b.stores.state.get_current_state_ids(room_id) == await a.stores.state.get_current_state_ids(room_id)
