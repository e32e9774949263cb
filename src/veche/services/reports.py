"""Reporting events, rooms and users to the server's administrators (report_content.md)."""

from __future__ import annotations

from veche.errors import not_found
from veche.services.rooms.members import LocalMembers
from veche.storage.accounts import AccountStore
from veche.storage.events import EventStore
from veche.storage.reports import Report, ReportStore
from veche.storage.rooms import RoomStore


class ReportService:
    def __init__(
        self,
        store: ReportStore,
        events: EventStore,
        rooms: RoomStore,
        members: LocalMembers,
        accounts: AccountStore,
    ) -> None:
        self._store = store
        self._events = events
        self._rooms = rooms
        self._members = members
        self._accounts = accounts

    async def report_event(self, reporter_id: str, room_id: str, event_id: str, reason: str | None) -> None:
        # report_content.md: the reporter MUST be joined to the event's room. Both failures
        # answer alike, so a non-member learns nothing about the room's events.
        missing = not_found("The event was not found or you are not joined to the room")
        if reporter_id not in await self._members.joined(room_id):
            raise missing
        meta = (await self._events.get_event_meta([event_id])).get(event_id)
        if meta is None or meta.room_id != room_id or meta.outlier or meta.rejected_reason is not None:
            raise missing
        await self._store.add("event", reporter_id, room_id=room_id, event_id=event_id, reason=reason)

    async def report_room(self, reporter_id: str, room_id: str, reason: str) -> None:
        # report_content.md: room reports MUST NOT depend on the reporter's membership.
        if await self._rooms.get_room_nid(room_id) is None:
            raise not_found("The room was not found")
        await self._store.add("room", reporter_id, room_id=room_id, reason=reason)

    async def report_user(self, reporter_id: str, user_id: str, reason: str) -> None:
        if not await self._accounts.user_id_exists(user_id) and not await self._rooms.get_rooms_for_user(user_id):
            raise not_found("The user was not found")
        await self._store.add("user", reporter_id, target_user_id=user_id, reason=reason)

    async def recent_reports(self, limit: int = 100) -> list[Report]:
        """The newest reports first, for administrators."""
        return await self._store.list_recent(limit)
