"""Event reports as Synapse's admin API shows them: pages of reports with the reported
event's room name, alias and sender, one report with the event itself, deletion."""

from __future__ import annotations

from typing import Any

from veche.errors import not_found
from veche.protocol.events import Event, StateKey
from veche.services.admin.rooms import state_content_field
from veche.storage.admin_reports import ReportAdminStore
from veche.storage.events import EventStore
from veche.storage.reports import Report


class ReportAdmin:
    def __init__(self, store: ReportAdminStore, events: EventStore) -> None:
        self._store = store
        self._events = events

    async def list(
        self, *, start: int, limit: int, newest_first: bool, reporter: str | None, room_id: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        reports, total = await self._store.event_reports(
            start=start, limit=limit, newest_first=newest_first, reporter=reporter, room_id=room_id
        )
        # One read of the page's events and one of each room's names, not one per report.
        events = await self._events.get_events(r.event_id for r in reports if r.event_id)
        names = {room_id: await self._room_names(room_id) for room_id in {r.room_id or "" for r in reports}}
        return [_report_json(r, names[r.room_id or ""], events.get(r.event_id or "")) for r in reports], total

    async def get(self, report_id: int) -> dict[str, Any]:
        report = await self._store.event_report(report_id)
        if report is None:
            raise not_found("Event report not found")
        event = await self._events.get_event(report.event_id) if report.event_id else None
        body = _report_json(report, await self._room_names(report.room_id or ""), event)
        return {**body, "event_json": event.pdu if event is not None else None}

    async def delete(self, report_id: int) -> None:
        if not await self._store.delete_event_report(report_id):
            raise not_found("Event report not found")

    async def _room_names(self, room_id: str) -> dict[StateKey, Event]:
        return await self._events.get_current_state(room_id, ["m.room.name", "m.room.canonical_alias"])


def _report_json(report: Report, names: dict[StateKey, Event], event: Event | None) -> dict[str, Any]:
    return {
        "id": report.report_id,
        "received_ts": report.received_ts,
        "room_id": report.room_id,
        "name": state_content_field(names, "m.room.name", "name"),
        "event_id": report.event_id,
        "user_id": report.reporter_id,
        "reason": report.reason,
        # Clients may send a score; Veche does not keep it (the spec no longer has it).
        "score": None,
        "sender": event.sender if event is not None else None,
        "canonical_alias": state_content_field(names, "m.room.canonical_alias", "alias"),
    }
