"""Serving /backfill (`BackfillServer`) on SQLite and PostgreSQL: a deep request is answered
nearest first, and its walk reads the prev events of each layer in one batch."""

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

    reads = hs.federation_events.reads
    pdus_for_server = reads.pdus_for_server

    async def walk_done(origin: str, events: Any) -> Any:
        # What history visibility reads afterwards is not the walk's.
        monkeypatch.setattr(hs.stores.events, "get_events", get_events)
        return await pdus_for_server(origin, events)

    monkeypatch.setattr(hs.stores.events, "get_events", counting_get_events)
    monkeypatch.setattr(reads, "pdus_for_server", walk_done)
    pdus = await hs.federation_backfill.backfill(hs.server_name, room_id, [sent[-1].event_id], 1000)

    bodies = [pdu["content"]["body"] for pdu in pdus]
    assert bodies == [f"m{i}" for i in reversed(range(20, MAX_BACKFILL + 20))]
    # The given events, then one read per layer walked (a chain: one event per layer),
    # never one per event plus one per layer.
    assert len(batches) <= len(pdus) + 1

    monkeypatch.setattr(hs.stores.events, "get_events", get_events)
    whole = await hs.federation_backfill.backfill(hs.server_name, room_id, [sent[5].event_id], MAX_BACKFILL)
    assert [pdu["type"] for pdu in whole][:6] == ["m.room.message"] * 6
    assert whole[-1]["type"] == "m.room.create"
