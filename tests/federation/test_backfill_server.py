"""Serving /backfill (`BackfillServer`) on SQLite and PostgreSQL: a deep request is answered
nearest first, its walk reads the prev events of each layer in one batch, and the history
visibility of the answer is read in one batch too."""

from __future__ import annotations

from typing import Any

import pytest

from veche.homeserver import HomeServer
from veche.services.federation.backfill import MAX_BACKFILL
from veche.services.rooms.sending import EventDraft


async def test_a_deep_backfill_reads_each_layer_once(
    engine_server: HomeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hs = engine_server
    alice = f"@alice:{hs.server_name}"
    room_id = await hs.room_creator.create_room(alice, {"preset": "private_chat"})
    sent = [
        await hs.sender.send(room_id, alice, EventDraft("m.room.message", {"body": f"m{i}"}))
        for i in range(MAX_BACKFILL + 20)
    ]
    batches: list[int] = []
    get_events = hs.stores.events.get_events

    async def counting_get_events(event_ids: Any) -> Any:
        ids = list(event_ids)
        batches.append(len(ids))
        return await get_events(ids)

    state_reads: list[int] = []
    get_snapshot_state_ids = hs.stores.state.get_snapshot_state_ids

    async def counting_state_ids(snapshot: int, types: Any = None) -> Any:
        state_reads.append(snapshot)
        return await get_snapshot_state_ids(snapshot, types)

    monkeypatch.setattr(hs.stores.events, "get_events", counting_get_events)
    monkeypatch.setattr(hs.stores.state, "get_snapshot_state_ids", counting_state_ids)
    pdus = await hs.federation_backfill.backfill(hs.server_name, room_id, [sent[-1].event_id], 1000)

    bodies = [pdu["content"]["body"] for pdu in pdus]
    assert bodies == [f"m{i}" for i in reversed(range(20, MAX_BACKFILL + 20))]
    # The given events, one read per layer walked (a chain: one event per layer), and one
    # for the history visibility of them all; never one per event plus one per layer.
    assert len(batches) <= len(pdus) + 2
    # The messages share the state after the last state event: it is read once.
    assert len(state_reads) == 1

    monkeypatch.setattr(hs.stores.events, "get_events", get_events)
    whole = await hs.federation_backfill.backfill(hs.server_name, room_id, [sent[5].event_id], MAX_BACKFILL)
    assert [pdu["type"] for pdu in whole][:6] == ["m.room.message"] * 6
    assert whole[-1]["type"] == "m.room.create"
