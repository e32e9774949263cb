"""The persistent federation outbox: batching within the transaction limits, one
transaction in flight per destination, back-off and its reset, surviving restarts, and
(over TLS) delivery once a stopped peer is back, each event once and in order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from veche.homeserver import HomeServer
from veche.services.federation.client import DestinationUnreachable, FederationHttpError
from veche.services.federation.outbox import FederationOutbox
from veche.services.rooms.sending import EventDraft
from veche.storage.database import Database
from veche.storage.outbox import OutboxStore

from .conftest import Certificate, federation_environ, free_port, start_server
from .room_setup import join_remote_user
from .test_send import timeline_of, wait_for

PEER = "peer.example"


class FakePdu:
    def __init__(self, event_id: str) -> None:
        self.pdu = {"event_id": event_id}


class FakeEvents:
    async def get_events(self, event_ids: Any) -> dict[str, FakePdu]:
        return {event_id: FakePdu(event_id) for event_id in event_ids}


class FakeClient:
    def __init__(self) -> None:
        self.transactions: list[tuple[str, dict[str, Any]]] = []
        self.failures: list[Exception] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def put_json(self, destination: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            if self.failures:
                raise self.failures.pop(0)
            self.transactions.append((path.rsplit("/", 1)[1], body))
            return {"pdus": {}}
        finally:
            self.in_flight -= 1


@pytest.fixture
def db(database: Database) -> Database:
    """The shared `database` fixture: SQLite, and PostgreSQL with VECHE_TEST_POSTGRES."""
    return database


def _outbox(db: Database, client: FakeClient, **kwargs: Any) -> FederationOutbox:
    return FederationOutbox(
        server_name="me.example",
        store=OutboxStore(db),
        events=FakeEvents(),  # type: ignore[arg-type]
        client=client,  # type: ignore[arg-type]
        **kwargs,
    )


async def test_batches_keep_order_and_limits(db: Database) -> None:
    client = FakeClient()
    outbox = _outbox(db, client)
    for i in range(60):
        await outbox.send_pdu([PEER, "me.example"], f"$e{i}")
    await outbox.send_edus([(PEER, "m.test", {"n": i}) for i in range(120)])
    await outbox.idle()
    pdus = [p["event_id"] for _, body in client.transactions for p in body["pdus"]]
    edus = [e["content"]["n"] for _, body in client.transactions for e in body["edus"]]
    assert pdus == [f"$e{i}" for i in range(60)]
    assert edus == list(range(120))
    assert all(len(b["pdus"]) <= 50 and len(b["edus"]) <= 100 for _, b in client.transactions)
    assert client.max_in_flight == 1
    assert len({txn_id for txn_id, _ in client.transactions}) == len(client.transactions)
    assert await OutboxStore(db).pending(PEER, 10) == []


async def test_back_off_doubles_then_resets(db: Database) -> None:
    client = FakeClient()
    client.failures = [DestinationUnreachable(PEER, "down"), FederationHttpError(PEER, 502, None, None, None)]
    outbox = _outbox(db, client, initial_retry_ms=50)
    store = OutboxStore(db)
    await outbox.send_edu(PEER, "m.test", {})

    async def backed_off(interval: int) -> bool:
        backoff = await store.get_backoff(PEER)
        return backoff is not None and backoff.retry_interval_ms == interval

    await wait_for(lambda: backed_off(50))
    await wait_for(lambda: backed_off(100))
    await outbox.idle()
    assert len(client.transactions) == 1
    assert await store.get_backoff(PEER) is None


async def test_refused_transactions_are_dropped(db: Database) -> None:
    client = FakeClient()
    client.failures = [FederationHttpError(PEER, 400, "M_BAD_JSON", "no", None)]
    outbox = _outbox(db, client)
    await outbox.send_edu(PEER, "m.test", {})
    await outbox.idle()
    assert client.transactions == []
    assert await OutboxStore(db).pending(PEER, 10) == []


async def test_queued_entries_survive_a_restart(db: Database) -> None:
    client = FakeClient()
    client.failures = [DestinationUnreachable(PEER, "down")]
    first = _outbox(db, client, initial_retry_ms=3_600_000)
    await first.send_pdu([PEER], "$kept")
    store = OutboxStore(db)
    await wait_for(lambda: _has_backoff(store))
    await first.stop()

    second = _outbox(db, client)
    await second.start()
    await asyncio.sleep(0.1)
    assert client.transactions == []  # still backing off
    await second.peer_is_back(PEER)
    await second.idle()
    assert [p["event_id"] for _, body in client.transactions for p in body["pdus"]] == ["$kept"]


async def _has_backoff(store: OutboxStore) -> bool:
    return await store.get_backoff(PEER) is not None


async def test_delivers_after_the_peer_restarts(certificate: Certificate, tmp_path: Path) -> None:
    environ_a = federation_environ(certificate, tmp_path / "a", free_port())
    environ_b = federation_environ(certificate, tmp_path / "b", free_port())
    a = await start_server(environ_a)
    b = await start_server(environ_b)
    try:
        alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
        room_id = await a.room_creator.create_room(alice, {"preset": "public_chat"})
        await join_remote_user(a, b, room_id, bob)
        await b.stop()

        sent = [
            await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": f"while down {i}"}))
            for i in range(5)
        ]
        store = a.federation_events.outbox._store
        await wait_for(lambda: _backoff_for(store, b.server_name))

        b = await start_server(environ_b)
        # B reaching A (here: its transaction of nothing) tells A that B is back.
        await b.federation.client.put_json(a.server_name, "/_matrix/federation/v1/send/hello", {"pdus": [], "edus": []})

        async def b_has_all() -> bool:
            return {e.event_id for e in sent} <= set(await timeline_of(b, room_id))

        await wait_for(b_has_all)
        timeline = await timeline_of(b, room_id)
        delivered = [event_id for event_id in timeline if event_id in {e.event_id for e in sent}]
        assert delivered == [e.event_id for e in sent]
        await a.federation_events.outbox.idle()
        assert await store.pending(b.server_name, 10) == []
    finally:
        await b.stop()
        await a.stop()


async def _backoff_for(store: OutboxStore, destination: str) -> bool:
    return await store.get_backoff(destination) is not None
