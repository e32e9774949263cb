"""Building small rooms of unsigned PDUs for storage tests (storage does not check signatures)."""

from __future__ import annotations

import itertools
from typing import Any

from veche.protocol.events import Event
from veche.protocol.room_versions import get_room_version

_ids = itertools.count(1)


class RoomBuilder:
    """Events chained one after another; `state` tracks the expected state after the last."""

    def __init__(self, room_id: str = "!room:test", version: str = "10") -> None:
        self.room_id = room_id
        self.version = get_room_version(version)
        self.state: dict[tuple[str, str], str] = {}
        self.last: list[str] = []
        self.depth = 0

    def make(
        self,
        event_type: str,
        content: dict[str, Any],
        *,
        sender: str = "@alice:test",
        state_key: str | None = None,
        prev: list[str] | None = None,
        depth: int | None = None,
        rejected_reason: str | None = None,
    ) -> Event:
        prev = self.last if prev is None else prev
        self.depth = depth if depth is not None else self.depth + 1
        pdu: dict[str, Any] = {
            "type": event_type,
            "room_id": self.room_id,
            "sender": sender,
            "content": content,
            "depth": self.depth,
            "origin_server_ts": 1_700_000_000_000 + self.depth,
            "prev_events": list(prev),
            "auth_events": [self.state[k] for k in self._auth_keys(sender) if k in self.state],
            "hashes": {"sha256": "x"},
            "signatures": {},
        }
        if state_key is not None:
            pdu["state_key"] = state_key
        return Event(pdu, self.version, f"${next(_ids)}:test", rejected_reason)

    def _auth_keys(self, sender: str) -> list[tuple[str, str]]:
        return [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", sender)]

    def advance(self, event: Event) -> None:
        """Record `event` as the new tip, and its state change if it is accepted."""
        self.last = [event.event_id]
        if event.is_state and event.rejected_reason is None:
            self.state[event.state_tuple] = event.event_id


def standard_room(b: RoomBuilder) -> list[Event]:
    """create, join, power levels, join rules — each built on the previous."""
    events = []
    for event_type, content, state_key in [
        ("m.room.create", {"room_version": "10", "creator": "@alice:test"}, ""),
        ("m.room.member", {"membership": "join"}, "@alice:test"),
        ("m.room.power_levels", {"users": {"@alice:test": 100}}, ""),
        ("m.room.join_rules", {"join_rule": "public"}, ""),
    ]:
        event = b.make(event_type, content, state_key=state_key)
        b.advance(event)
        events.append(event)
    return events
