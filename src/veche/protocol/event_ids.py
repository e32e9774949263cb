"""Event IDs and the room IDs derived from them (spec: rooms/fragments/v1-event-ids.md,
rooms/v3.md "Event IDs", rooms/fragments/v4-event-ids.md, appendices.md "Room IDs").
"""

from __future__ import annotations

from typing import Any

from veche.protocol.hashing import compute_reference_hash
from veche.protocol.room_versions import EventFormat, RoomVersion
from veche.protocol.signing import unpadded_b64encode, unpadded_urlsafe_b64encode


class MissingEventId(ValueError):
    """A room version 1/2 event arrived without its `event_id`."""


def compute_event_id(pdu: dict[str, Any], room_version: RoomVersion) -> str:
    """The ID of `pdu` in a room of `room_version`.

    Versions 1 and 2 carry the ID in the event; later versions derive it from the
    reference hash (standard base64 in v3, URL-safe base64 from v4 on).
    """
    if room_version.event_format is EventFormat.V1:
        event_id = pdu.get("event_id")
        if not isinstance(event_id, str):
            raise MissingEventId("room version 1 and 2 events must carry an event_id")
        return event_id
    reference_hash = compute_reference_hash(pdu, room_version)
    if room_version.event_format is EventFormat.V3:
        return "$" + unpadded_b64encode(reference_hash)
    return "$" + unpadded_urlsafe_b64encode(reference_hash)


def room_id_from_create_event_id(event_id: str) -> str:
    """The v12 room ID: the create event's ID with `!` in place of `$`."""
    if not event_id.startswith("$"):
        raise ValueError(f"{event_id!r} is not an event ID")
    return "!" + event_id[1:]


def generate_v1_event_id(opaque_id: str, server_name: str) -> str:
    """A room version 1/2 event ID, `$opaque_id:server_name`.

    `opaque_id` must be locally unique; the caller draws it from its random source, which
    keeps this module free of I/O.
    """
    if not opaque_id or ":" in opaque_id:
        raise ValueError("the opaque part of an event ID must be non-empty and hold no ':'")
    return f"${opaque_id}:{server_name}"
