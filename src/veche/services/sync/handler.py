"""The /sync request: wait for news, then gather every section from one consistent token."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from veche.protocol.filters import Filter
from veche.services.notifier import Notifier
from veche.services.streams import Stream, StreamToken
from veche.services.sync.rooms import RoomSync, SyncRequest
from veche.storage.accounts import TokenInfo
from veche.storage.stores import EventStores

# Longest a client may make us hold a request; beyond this, proxies tend to cut it anyway.
MAX_TIMEOUT_MS = 300_000

SectionFiller = Callable[[SyncRequest, dict[str, Any]], Awaitable[None]]
DeviceFiller = Callable[[TokenInfo, dict[str, Any]], Awaitable[None]]


class SyncHandler:
    def __init__(
        self,
        *,
        stores: EventStores,
        notifier: Notifier,
        room_sync: RoomSync,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stores = stores
        self._notifier = notifier
        self._room_sync = room_sync
        self._clock = clock
        self._section_fillers: list[SectionFiller] = []
        self._device_fillers: list[DeviceFiller] = []

    def add_section_filler(self, filler: SectionFiller) -> None:
        """Register a source of extra sync data (account data, receipts, to-device …).

        Each filler gets the request (with its `since` and `now` tokens) and the response
        under construction, and adds its part; it must only read data up to `now`.
        """
        self._section_fillers.append(filler)

    def add_device_filler(self, filler: DeviceFiller) -> None:
        """Register fields every response must carry for the requesting device, even one
        with nothing new (the spec requires e.g. `device_unused_fallback_key_types`).

        They run on every sync, so they must answer from memory in the common case.
        """
        self._device_fillers.append(filler)

    async def sync(
        self,
        requester: TokenInfo,
        *,
        since: StreamToken | None,
        sync_filter: Filter,
        full_state: bool,
        timeout_ms: int,
        use_state_after: bool = False,
    ) -> dict[str, Any]:
        user_id = requester.user_id
        quiet_streams: frozenset[Stream] = frozenset()
        if since is not None and not full_state:
            if timeout_ms > 0:
                await self._notifier.wait_for_changes(user_id, since, min(timeout_ms, MAX_TIMEOUT_MS) / 1000)
            if self._notifier.knows_changes_since(since):
                if not self._notifier.has_changes_since(user_id, since):
                    # Nothing concerns this user: answer without reading any stream.
                    quiet: dict[str, Any] = {"next_batch": since.serialize()}
                    await self._fill_device_fields(requester, quiet)
                    return quiet
                quiet_streams = self._notifier.quiet_streams(user_id, since)
        # Taken after the quiet streams: whatever moves in between is above `since` for
        # the next sync, never skipped.
        now = self._current_token()
        request = SyncRequest(
            requester=requester,
            since=since,
            now=now,
            filter=sync_filter,
            full_state=full_state,
            use_state_after=use_state_after,
            now_ms=int(self._clock() * 1000),
            memberships=tuple(await self._stores.rooms.get_memberships_for_user(user_id)),
            quiet=quiet_streams,
        )
        response: dict[str, Any] = {
            "next_batch": now.serialize(),
            "rooms": await self._room_sync.sync_rooms(request),
            "account_data": {"events": []},
            "presence": {"events": []},
            "to_device": {"events": []},
        }
        for filler in self._section_fillers:
            await filler(request, response)
        await self._fill_device_fields(requester, response)
        _drop_empty_rooms(response["rooms"], initial=since is None or full_state)
        return response

    async def _fill_device_fields(self, requester: TokenInfo, response: dict[str, Any]) -> None:
        for filler in self._device_fillers:
            await filler(requester, response)

    def _current_token(self) -> StreamToken:
        # The events stream is read from the store, which knows what has committed; the
        # others are announced through the notifier by their writers.
        return self._notifier.current_token.advance(Stream.EVENTS, self._stores.events.current_stream_token)


def _drop_empty_rooms(rooms: dict[str, Any], *, initial: bool) -> None:
    """An incremental sync leaves out joined rooms with nothing new in any section."""
    if initial:
        return
    for room_id, room in list(rooms["join"].items()):
        if (
            not room["timeline"]["events"]
            and not room.get("state", room.get("state_after", {})).get("events")
            and not room["ephemeral"]["events"]
            and not room["account_data"]["events"]
            and "summary" not in room
            and not room.get("unread_notifications")
        ):
            del rooms["join"][room_id]
