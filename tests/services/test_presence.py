"""PresenceService over a real PresenceStore: states, timeouts, who sees what."""

from __future__ import annotations

import pytest

from veche.errors import MatrixError
from veche.services.notifier import Notifier
from veche.services.presence import ACTIVE_WINDOW_MS, GONE_AFTER_MS, IDLE_AFTER_MS, PresenceService
from veche.storage.database import Database
from veche.storage.presence import PresenceStore

ALICE = "@alice:hs"
BOB = "@bob:hs"
CAROL = "@carol:hs"
ROOMS = {"!shared:hs": {ALICE, BOB}, "!carol:hs": {CAROL}}


class FakeRooms:
    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]:
        return [room for room, members in ROOMS.items() if user_id in members]

    async def get_joined_members(self, room_id: str) -> list[str]:
        return sorted(ROOMS.get(room_id, ()))

    async def get_many_joined_members(self, room_ids: list[str]) -> dict[str, list[str]]:
        return {room_id: await self.get_joined_members(room_id) for room_id in room_ids}


class FakeMembers:
    async def joined(self, room_id: str) -> frozenset[str]:
        return frozenset(ROOMS.get(room_id, ()))

    async def joined_many(self, room_ids: list[str]) -> dict[str, frozenset[str]]:
        return {room_id: await self.joined(room_id) for room_id in room_ids}


class FakeAccounts:
    async def user_id_exists(self, user_id: str) -> bool:
        return user_id in (ALICE, BOB, CAROL)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: int) -> None:
        self.now += ms / 1000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def presence(database: Database, clock: FakeClock):
    notifier = Notifier()
    service = PresenceService(
        await PresenceStore.create(database), FakeRooms(), FakeMembers(), FakeAccounts(), notifier, clock
    )
    return service, notifier


def by_sender(events: list[dict]) -> dict[str, dict]:
    return {e["sender"]: e["content"] for e in events}


async def test_set_and_get(presence, clock: FakeClock) -> None:
    service, _ = presence
    await service.set_status(ALICE, "online", "busy")
    clock.advance_ms(1_500)
    assert await service.get_status(BOB, ALICE) == {
        "presence": "online",
        "last_active_ago": 1_500,
        "currently_active": True,
        "status_msg": "busy",
    }
    with pytest.raises(MatrixError) as error:
        await service.get_status(CAROL, ALICE)
    assert error.value.status == 403
    assert await service.get_status(BOB, BOB) == {"presence": "offline"}
    with pytest.raises(MatrixError) as error:
        await service.get_status("@nobody:hs", "@nobody:hs")
    assert error.value.status == 404
    with pytest.raises(MatrixError):
        await service.set_status(ALICE, "away", None)


async def test_presence_for_user_covers_shared_rooms(presence) -> None:
    service, notifier = presence
    since = notifier.current_token
    await service.set_status(ALICE, "online", None)
    await service.set_status(CAROL, "unavailable", None)
    assert set(by_sender(await service.presence_for_user(BOB, 0))) == {ALICE}
    assert set(by_sender(await service.presence_for_user(CAROL, 0))) == {CAROL}
    assert notifier.has_changes_since(BOB, since)
    position = service.current_position()
    assert await service.presence_for_user(BOB, position) == []
    await service.set_status(BOB, "online", "hi")
    assert by_sender(await service.presence_for_user(ALICE, position))[BOB]["status_msg"] == "hi"


async def test_sync_marks_online_and_offline_leaves_alone(presence) -> None:
    service, _ = presence
    await service.set_presence_from_sync(ALICE, "offline")
    assert await service.presence_for_user(ALICE, 0) == []
    await service.set_presence_from_sync(ALICE, "online")
    assert by_sender(await service.presence_for_user(ALICE, 0))[ALICE]["presence"] == "online"
    position = service.current_position()
    # Already online: a further sync changes nothing others see.
    await service.set_presence_from_sync(ALICE, "online")
    assert service.current_position() == position
    await service.set_presence_from_sync(ALICE, "unavailable")
    assert by_sender(await service.presence_for_user(ALICE, position))[ALICE]["presence"] == "unavailable"


async def test_idle_then_gone(presence, clock: FakeClock) -> None:
    service, _ = presence
    await service.set_presence_from_sync(ALICE, "online")
    for _ in range(IDLE_AFTER_MS // 60_000 + 1):
        clock.advance_ms(60_000)
        await service.set_presence_from_sync(ALICE, "online")
        await service.sweep()
    assert (await service.get_status(ALICE, ALICE))["presence"] == "unavailable"
    await service.mark_active(ALICE)
    assert (await service.get_status(ALICE, ALICE))["presence"] == "online"
    clock.advance_ms(GONE_AFTER_MS)
    await service.sweep()
    assert (await service.get_status(ALICE, ALICE))["presence"] == "offline"


async def test_currently_active_end_is_announced(presence, clock: FakeClock) -> None:
    service, _ = presence
    await service.set_status(ALICE, "online", None)
    position = service.current_position()
    clock.advance_ms(ACTIVE_WINDOW_MS)
    await service.set_presence_from_sync(ALICE, "online")
    await service.sweep()
    update = by_sender(await service.presence_for_user(BOB, position))[ALICE]
    assert update["currently_active"] is False
    position = service.current_position()
    await service.sweep()
    assert service.current_position() == position
    await service.mark_active(ALICE)
    assert by_sender(await service.presence_for_user(BOB, position))[ALICE]["currently_active"] is True


async def test_restart_resumes_live_users(database: Database, presence, clock: FakeClock) -> None:
    service, _ = presence
    await service.set_status(ALICE, "online", "back soon")
    restarted = PresenceService(
        await PresenceStore.create(database), FakeRooms(), FakeMembers(), FakeAccounts(), Notifier(), clock
    )
    await restarted.start()
    try:
        assert restarted.current_position() == service.current_position()
        clock.advance_ms(GONE_AFTER_MS)
        await restarted.sweep()
        status = await restarted.get_status(ALICE, ALICE)
        assert status["presence"] == "offline"
        assert status["status_msg"] == "back soon"
    finally:
        await restarted.stop()
