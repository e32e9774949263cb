"""TypingService: who is typing, expiry, and what /sync sees after a position."""

from __future__ import annotations

import asyncio

import pytest

from veche.errors import MatrixError
from veche.services.notifier import Notifier
from veche.services.streams import StreamToken
from veche.services.typing import MAX_TIMEOUT_MS, TypingService

ROOM = "!room:hs"
ALICE = "@alice:hs"
BOB = "@bob:hs"


class FakeMembers:
    def __init__(self, joined: dict[str, set[str]]) -> None:
        self._joined = joined

    async def joined(self, room_id: str) -> frozenset[str]:
        return frozenset(self._joined.get(room_id, ()))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def typing(clock: FakeClock):
    service = TypingService(FakeMembers({ROOM: {ALICE, BOB}}), Notifier(), clock)
    yield service
    service.close()


def user_ids(events: dict, room_id: str = ROOM) -> list[str]:
    return events[room_id]["content"]["user_ids"]


async def test_start_and_stop(typing: TypingService) -> None:
    await typing.set_typing(ROOM, ALICE, True, 10_000)
    assert typing.typing_for_rooms([ROOM], 0) == {ROOM: {"type": "m.typing", "content": {"user_ids": [ALICE]}}}
    after_start = typing.current_position()
    await typing.set_typing(ROOM, ALICE, False, None)
    # An incremental sync must hear the stop as an empty list.
    assert user_ids(typing.typing_for_rooms([ROOM], after_start)) == []
    # An initial sync shows only rooms where someone types.
    assert typing.typing_for_rooms([ROOM], 0) == {}


async def test_only_rooms_changed_since_position(typing: TypingService) -> None:
    other = "!other:hs"
    typing._members._joined[other] = {BOB}  # type: ignore[attr-defined]
    await typing.set_typing(ROOM, ALICE, True, 10_000)
    position = typing.current_position()
    await typing.set_typing(other, BOB, True, 10_000)
    assert set(typing.typing_for_rooms([ROOM, other], position)) == {other}
    assert typing.typing_for_rooms([ROOM, other], typing.current_position()) == {}


async def test_renewal_moves_no_stream(typing: TypingService) -> None:
    await typing.set_typing(ROOM, ALICE, True, 10_000)
    position = typing.current_position()
    await typing.set_typing(ROOM, ALICE, True, 10_000)
    assert typing.current_position() == position


async def test_expiry_drops_typer_and_wakes_members(clock: FakeClock) -> None:
    notifier = Notifier()
    typing = TypingService(FakeMembers({ROOM: {ALICE, BOB}}), notifier, clock)
    try:
        await typing.set_typing(ROOM, ALICE, True, 5_000)
        await typing.set_typing(ROOM, BOB, True, 20_000)
        since = notifier.current_token
        clock.now += 6
        await typing.expire_due()
        assert user_ids(typing.typing_for_rooms([ROOM], since.typing)) == [BOB]
        assert notifier.has_changes_since(BOB, since)
        assert notifier.has_changes_since(ALICE, since)
    finally:
        typing.close()


async def test_expired_typer_hidden_before_the_sweep(typing: TypingService, clock: FakeClock) -> None:
    await typing.set_typing(ROOM, ALICE, True, 1_000)
    clock.now += 2
    assert typing.typing_for_rooms([ROOM], 0) == {}


async def test_timeout_is_capped(typing: TypingService, clock: FakeClock) -> None:
    await typing.set_typing(ROOM, ALICE, True, 10 * MAX_TIMEOUT_MS)
    clock.now += MAX_TIMEOUT_MS / 1000 + 1
    await typing.expire_due()
    assert typing.typing_for_rooms([ROOM], 0) == {}


async def test_timer_expires_with_the_real_clock() -> None:
    notifier = Notifier()
    typing = TypingService(FakeMembers({ROOM: {ALICE}}), notifier)
    try:
        await typing.set_typing(ROOM, ALICE, True, 20)
        since = notifier.current_token
        woke = await notifier.wait_for_changes(ALICE, since, timeout=5)
        assert woke
        assert typing.typing_for_rooms([ROOM], 0) == {}
    finally:
        typing.close()


async def test_must_be_joined(typing: TypingService) -> None:
    with pytest.raises(MatrixError) as error:
        await typing.set_typing(ROOM, "@carol:hs", True, 1_000)
    assert error.value.status == 403
    assert typing.current_position() == 0


async def test_token_from_before_restart_reads_as_initial(typing: TypingService) -> None:
    await typing.set_typing(ROOM, ALICE, True, 10_000)
    assert user_ids(typing.typing_for_rooms([ROOM], 1_000)) == [ALICE]


async def test_notifies_joined_members(clock: FakeClock) -> None:
    notifier = Notifier()
    typing = TypingService(FakeMembers({ROOM: {ALICE, BOB}}), notifier, clock)
    try:
        waiter = asyncio.create_task(notifier.wait_for_changes(BOB, StreamToken(), timeout=5))
        await asyncio.sleep(0)
        await typing.set_typing(ROOM, ALICE, True, 1_000)
        assert await waiter
        assert not notifier.has_changes_since("@carol:hs", StreamToken())
    finally:
        typing.close()
