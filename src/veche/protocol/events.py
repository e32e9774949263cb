"""A read-only view of a PDU (a room event as servers exchange it).

`Event` wraps the PDU dict exactly as it was signed; it never changes it. The few fields
whose place differs between room versions (`redacts`, the create event's room ID, the
shape of `prev_events`) are read through properties that know the room version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from veche.protocol.room_versions import EventFormat, RoomVersion

StateKey = tuple[str, str]
"""An (event type, state key) pair: the key of a room state map."""

StateMap = Mapping[StateKey, "Event"]
"""Room state as events, keyed by (type, state_key)."""

StateIds = Mapping[StateKey, str]
"""Room state as event IDs, keyed by (type, state_key)."""


class Event:
    __slots__ = ("pdu", "room_version", "event_id", "rejected_reason")

    def __init__(
        self,
        pdu: dict[str, Any],
        room_version: RoomVersion,
        event_id: str,
        rejected_reason: str | None = None,
    ) -> None:
        self.pdu = pdu
        self.room_version = room_version
        self.event_id = event_id
        self.rejected_reason = rejected_reason

    def __repr__(self) -> str:
        sk = f" state_key={self.state_key!r}" if self.is_state else ""
        return f"<Event {self.event_id} {self.type}{sk}>"

    @property
    def type(self) -> str:
        return self.pdu["type"]

    @property
    def sender(self) -> str:
        return self.pdu["sender"]

    @property
    def content(self) -> dict[str, Any]:
        return self.pdu.get("content") or {}

    @property
    def state_key(self) -> str | None:
        return self.pdu.get("state_key")

    @property
    def is_state(self) -> bool:
        return "state_key" in self.pdu

    @property
    def state_tuple(self) -> StateKey:
        """The (type, state_key) this state event sets; only valid when `is_state`."""
        return (self.pdu["type"], self.pdu["state_key"])

    @property
    def room_id(self) -> str:
        room_id = self.pdu.get("room_id")
        if room_id is None and self.room_version.room_id_from_create_event:
            # v12: the create event carries no room_id; the room ID is its reference hash.
            return "!" + self.event_id[1:]
        return room_id

    @property
    def depth(self) -> int:
        return self.pdu.get("depth", 0)

    @property
    def origin_server_ts(self) -> int:
        return self.pdu.get("origin_server_ts", 0)

    @property
    def membership(self) -> str | None:
        return self.content.get("membership") if self.type == "m.room.member" else None

    @property
    def redacts(self) -> str | None:
        if self.room_version.redacts_in_content:
            value = self.content.get("redacts")
        else:
            value = self.pdu.get("redacts")
        return value if isinstance(value, str) else None

    @property
    def prev_event_ids(self) -> list[str]:
        return _id_list(self.pdu.get("prev_events", ()), self.room_version)

    @property
    def auth_event_ids(self) -> list[str]:
        return _id_list(self.pdu.get("auth_events", ()), self.room_version)


def _id_list(entries: Any, room_version: RoomVersion) -> list[str]:
    if room_version.event_format is EventFormat.V1:
        # v1/v2 list [event_id, {hash_alg: hash}] pairs.
        return [entry[0] for entry in entries]
    return list(entries)
