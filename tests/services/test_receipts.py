"""ReceiptService over a real ReceiptStore: validation, forward-only receipts, aggregation
for /sync and the privacy of m.read.private."""

from __future__ import annotations

from typing import Any

import pytest

from veche.errors import MatrixError
from veche.services.account_data import AccountDataService
from veche.services.notifier import Notifier
from veche.services.receipts import ReceiptService
from veche.storage.account_data import AccountDataStore
from veche.storage.database import Database
from veche.storage.events import EventMeta
from veche.storage.receipts import ReceiptStore

ROOM = "!room:hs"
OTHER_ROOM = "!other:hs"
ALICE = "@alice:hs"
BOB = "@bob:hs"


class FakeEvent:
    def __init__(self, content: dict[str, Any]) -> None:
        self.content = content


class FakeEvents:
    """event ID → (room, stream position, content) standing in for the EventStore."""

    def __init__(self) -> None:
        self.events: dict[str, tuple[str, int, dict[str, Any]]] = {}

    def add(self, event_id: str, room_id: str, stream: int, content: dict[str, Any] | None = None) -> None:
        self.events[event_id] = (room_id, stream, content or {})

    async def get_event_meta(self, event_ids):
        return {
            e: EventMeta(self.events[e][0], self.events[e][1], 1, False, False, None)
            for e in event_ids
            if e in self.events
        }

    async def get_event(self, event_id: str):
        entry = self.events.get(event_id)
        return FakeEvent(entry[2]) if entry else None


class FakeMembers:
    async def joined(self, room_id: str) -> frozenset[str]:
        return frozenset({ALICE, BOB}) if room_id in (ROOM, OTHER_ROOM) else frozenset()


@pytest.fixture
async def setup(database: Database):
    notifier = Notifier()
    events = FakeEvents()
    for i in range(1, 6):
        events.add(f"$e{i}", ROOM, i)
    events.add("$o1", OTHER_ROOM, 10)
    events.add("$root", ROOM, 20)
    events.add("$in_thread", ROOM, 21, {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}})
    account_data = AccountDataService(await AccountDataStore.create(database), notifier)
    service = ReceiptService(
        await ReceiptStore.create(database), events, FakeMembers(), account_data, notifier,
        clock=lambda: 1_700_000_000.0,
    )
    return service, account_data, notifier


async def test_aggregates_receipts_per_room(setup) -> None:
    service, _, _ = setup
    await service.send_receipt(ROOM, ALICE, "m.read", "$e2", None)
    await service.send_receipt(ROOM, BOB, "m.read", "$e2", None)
    await service.send_receipt(OTHER_ROOM, BOB, "m.read", "$o1", None)
    result = await service.receipts_for_rooms(ALICE, [ROOM, OTHER_ROOM], 0)
    assert result[ROOM] == {
        "type": "m.receipt",
        "content": {"$e2": {"m.read": {ALICE: {"ts": 1_700_000_000_000}, BOB: {"ts": 1_700_000_000_000}}}},
    }
    assert set(result[OTHER_ROOM]["content"]) == {"$o1"}
    assert set(await service.receipts_for_rooms(ALICE, [ROOM], 0)) == {ROOM}


async def test_incremental_shows_only_changes(setup) -> None:
    service, _, _ = setup
    await service.send_receipt(ROOM, ALICE, "m.read", "$e1", None)
    position = service.current_position()
    assert await service.receipts_for_rooms(ALICE, [ROOM], position) == {}
    await service.send_receipt(ROOM, BOB, "m.read", "$e3", None)
    result = await service.receipts_for_rooms(ALICE, [ROOM], position)
    assert result[ROOM]["content"] == {"$e3": {"m.read": {BOB: {"ts": 1_700_000_000_000}}}}


async def test_receipt_only_moves_forward(setup) -> None:
    service, _, _ = setup
    await service.send_receipt(ROOM, ALICE, "m.read", "$e4", None)
    position = service.current_position()
    await service.send_receipt(ROOM, ALICE, "m.read", "$e2", None)
    assert await service.receipts_for_rooms(ALICE, [ROOM], position) == {}
    assert await service.get_read_receipt(ROOM, ALICE) == "$e4"


async def test_threads_are_separate(setup) -> None:
    service, _, _ = setup
    await service.send_receipt(ROOM, ALICE, "m.read", "$e3", None)
    await service.send_receipt(ROOM, ALICE, "m.read", "$e1", "main")
    await service.send_receipt(ROOM, ALICE, "m.read", "$in_thread", "$root")
    content = (await service.receipts_for_rooms(ALICE, [ROOM], 0))[ROOM]["content"]
    assert content["$e3"]["m.read"][ALICE] == {"ts": 1_700_000_000_000}
    assert content["$e1"]["m.read"][ALICE]["thread_id"] == "main"
    assert content["$in_thread"]["m.read"][ALICE]["thread_id"] == "$root"


async def test_thread_mismatch_is_refused(setup) -> None:
    service, _, _ = setup
    for thread_id in ("main", "$other_root"):
        with pytest.raises(MatrixError) as error:
            await service.send_receipt(ROOM, ALICE, "m.read", "$in_thread", thread_id)
        assert error.value.errcode == "M_INVALID_PARAM"


async def test_private_receipts_only_reach_their_owner(setup) -> None:
    service, _, notifier = setup
    since = notifier.current_token
    await service.send_receipt(ROOM, ALICE, "m.read.private", "$e5", None)
    assert notifier.has_changes_since(ALICE, since)
    assert not notifier.has_changes_since(BOB, since)
    assert await service.receipts_for_rooms(BOB, [ROOM], 0) == {}
    mine = await service.receipts_for_rooms(ALICE, [ROOM], 0)
    assert mine[ROOM]["content"] == {"$e5": {"m.read.private": {ALICE: {"ts": 1_700_000_000_000}}}}
    # The furthest of m.read and m.read.private is what the user has read.
    await service.send_receipt(ROOM, ALICE, "m.read", "$e2", None)
    assert await service.get_read_receipt(ROOM, ALICE) == "$e5"


async def test_fully_read_marker_is_room_account_data(setup) -> None:
    service, account_data, _ = setup
    await service.set_read_markers(ROOM, ALICE, fully_read="$e3", read="$e3")
    assert await account_data.get_account_data(ALICE, ROOM, "m.fully_read") == {"event_id": "$e3"}
    await service.send_receipt(ROOM, ALICE, "m.fully_read", "$e1", None)
    # Behind the current marker: ignored.
    assert await account_data.get_account_data(ALICE, ROOM, "m.fully_read") == {"event_id": "$e3"}
    changes = await account_data.get_room_changes(ALICE, 0)
    assert changes == {ROOM: {"m.fully_read": {"event_id": "$e3"}}}
    assert await service.get_read_receipt(ROOM, ALICE) == "$e3"


async def test_unknown_event_and_non_member(setup) -> None:
    service, _, _ = setup
    with pytest.raises(MatrixError) as error:
        await service.send_receipt(ROOM, ALICE, "m.read", "$nope", None)
    assert error.value.status == 404
    with pytest.raises(MatrixError) as error:
        await service.send_receipt(ROOM, ALICE, "m.read", "$o1", None)
    assert error.value.status == 404
    with pytest.raises(MatrixError) as error:
        await service.send_receipt(ROOM, "@carol:hs", "m.read", "$e1", None)
    assert error.value.status == 403
    with pytest.raises(MatrixError) as error:
        await service.send_receipt(ROOM, ALICE, "m.fully_read", "$e1", "main")
    assert error.value.errcode == "M_INVALID_PARAM"
