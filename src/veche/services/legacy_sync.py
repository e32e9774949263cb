"""The pre-/sync reading endpoints the spec still lists: GET /initialSync, GET /events and
GET /events/{eventId} (deprecated, old_sync.yaml), and GET /rooms/{roomId}/initialSync and
the peeking GET /events?room_id= of the Room Previews module (room_initial_sync.yaml,
peeking_events.yaml). "Implementations of Matrix are required to implement deprecated
functionality of the spec version they claim" (client-server-api/_index.md, "Deprecation
policy"), so they are served on top of the room reader and the notifier.

Their tokens are /sync stream tokens, which /messages also accepts as `from`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from veche.errors import MatrixError, not_found
from veche.protocol.filters import RoomEventFilter
from veche.services.streams import InvalidToken, StreamToken

if TYPE_CHECKING:
    from veche.services.notifier import Notifier
    from veche.services.rooms.reading import RoomReader
    from veche.services.rooms.serving import EventSerializer
    from veche.storage.accounts import TokenInfo
    from veche.storage.room_directory import DirectoryStore
    from veche.storage.stores import EventStores

# The most events one GET /events answer carries per room.
MAX_EVENTS_PER_ROOM = 100


class LegacySync:
    def __init__(
        self,
        *,
        stores: EventStores,
        reader: RoomReader,
        serializer: EventSerializer,
        notifier: Notifier,
        directory: DirectoryStore,
        invites_blocked: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._events = stores.events
        self._rooms = stores.rooms
        self._reader = reader
        self._serializer = serializer
        self._notifier = notifier
        self._directory = directory
        self._invites_blocked = invites_blocked

    async def event(self, requester: TokenInfo, event_id: str) -> dict[str, Any]:
        """One event the user may see; 404 whether it is unknown or hidden (old_sync.yaml)."""
        event = await self._events.get_event(event_id)
        if event is None:
            raise not_found("Event not found")
        try:
            return await self._reader.get_event(requester, event.room_id, event_id, _now_ms())
        except MatrixError as e:
            if e.status in (403, 404):
                raise not_found("Event not found") from None
            raise

    async def room_initial_sync(self, requester: TokenInfo, room_id: str, limit: int) -> dict[str, Any]:
        """A room's state and latest messages; 403 unless the user may read the room."""
        now_ms = _now_ms()
        messages = await self._reader.messages(
            requester,
            room_id,
            direction="b",
            from_token=None,
            to_token=None,
            limit=limit,
            event_filter=RoomEventFilter(),
            now_ms=now_ms,
        )
        # The spec's PaginationChunk runs forwards: from `start` (older) to `end` (now).
        chunk = messages["chunk"][::-1]
        end = self._notifier.current_token.serialize()
        body: dict[str, Any] = {
            "room_id": room_id,
            "messages": {"chunk": chunk, "start": messages.get("end", messages["start"]), "end": end},
            "state": await self._reader.state(requester, room_id, now_ms),
            "visibility": "public" if await self._directory.is_published(room_id) else "private",
        }
        member = await self._events.get_current_state_event(room_id, "m.room.member", requester.user_id)
        if member is not None:
            body["membership"] = member.membership
        return body

    async def initial_sync(self, requester: TokenInfo, limit: int, archived: bool) -> dict[str, Any]:
        """Every room the user is joined to or invited to (and left, if `archived`); no
        invites while the user blocks them (modules/invite_permission.md)."""
        kinds = ["join", "invite", "leave", "ban"] if archived else ["join", "invite"]
        if self._invites_blocked is not None and await self._invites_blocked(requester.user_id):
            kinds.remove("invite")
        end = self._notifier.current_token.serialize()
        rooms: list[dict[str, Any]] = []
        for membership in await self._rooms.get_memberships_for_user(requester.user_id, kinds):
            if membership.membership == "invite":
                invite = await self._events.get_event(membership.event_id)
                room: dict[str, Any] = {"room_id": membership.room_id, "membership": "invite"}
                if invite is not None:
                    room["invite"] = (await self._serializer.serialize([invite], requester=requester, now_ms=_now_ms()))[0]
                rooms.append(room)
                continue
            try:
                rooms.append(await self.room_initial_sync(requester, membership.room_id, limit))
            except MatrixError as e:
                if e.status != 403:
                    raise
        return {"end": end, "rooms": rooms, "presence": [], "account_data": []}

    async def events(
        self, requester: TokenInfo, from_token: str | None, timeout_ms: int, room_id: str | None
    ) -> dict[str, Any]:
        """New events after `from_token` in the user's rooms (or in `room_id`, peeking),
        waiting up to `timeout_ms` for some."""
        since = _parse_token(from_token) if from_token is not None else self._notifier.current_token
        if room_id is not None:
            # Peeking: only a room the user may read (world_readable for non-members).
            await self._reader.access(requester.user_id, room_id)
        deadline = time.monotonic() + timeout_ms / 1000
        waited_out = False
        while True:
            upto = self._notifier.current_token
            chunk = await self._events_between(requester, room_id, since.events, upto.events)
            remaining = deadline - time.monotonic()
            if chunk or remaining <= 0 or waited_out:
                return {"start": since.serialize(), "end": upto.serialize(), "chunk": chunk}
            # A peeker is not woken by the room's events, so it sees them when the wait ends;
            # a wait that ends unwoken (time-out, shutdown) gets that one last look.
            woken = await self._notifier.wait_for_changes(requester.user_id, upto, remaining)
            waited_out = not woken

    async def _events_between(
        self, requester: TokenInfo, room_id: str | None, after: int, upto: int
    ) -> list[dict[str, Any]]:
        if room_id is not None:
            room_ids = [room_id]
        else:
            room_ids = [m.room_id for m in await self._rooms.get_memberships_for_user(requester.user_id, ["join"])]
        changed = await self._events.get_rooms_with_events(room_ids, after, upto) if room_ids else set()
        events = []
        for changed_room in sorted(changed):
            recent = await self._events.get_recent_room_events(changed_room, after, upto, MAX_EVENTS_PER_ROOM)
            events += await self._reader.keep(requester.user_id, recent.events)
        return await self._serializer.serialize(events, requester=requester, now_ms=_now_ms())


def _parse_token(text: str) -> StreamToken:
    try:
        return StreamToken.parse(text)
    except InvalidToken:
        raise MatrixError(400, "M_INVALID_PARAM", f"Invalid from token {text!r}") from None


def _now_ms() -> int:
    return int(time.time() * 1000)
