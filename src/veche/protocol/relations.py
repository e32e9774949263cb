"""Event relationships (spec: client-server-api/_index.md "Forming relationships between
events", modules/event_replacements.md, modules/threading.md)."""

from __future__ import annotations

from typing import Any

from veche.protocol.events import Event

REPLACE = "m.replace"
THREAD = "m.thread"
REFERENCE = "m.reference"


def relation_of(content: dict[str, Any]) -> tuple[str, str] | None:
    """(parent event ID, rel_type) of an event's `m.relates_to`, if it has a well-formed one."""
    relates_to = content.get("m.relates_to")
    if not isinstance(relates_to, dict):
        return None
    parent, rel_type = relates_to.get("event_id"), relates_to.get("rel_type")
    if isinstance(parent, str) and isinstance(rel_type, str):
        return parent, rel_type
    return None


def is_valid_replacement(original: Event, replacement: Event) -> bool:
    """event_replacements.md "Validity of replacement events"."""
    if original.room_id != replacement.room_id or original.sender != replacement.sender:
        return False
    if original.type != replacement.type or original.is_state or replacement.is_state:
        return False
    own = relation_of(original.content)
    if own is not None and own[1] == REPLACE:
        return False
    # Encrypted edits carry `m.new_content` inside the ciphertext, out of the server's sight.
    return replacement.type == "m.room.encrypted" or isinstance(replacement.content.get("m.new_content"), dict)


def latest_replacement(replacements: list[Event]) -> Event | None:
    """The most recent edit: latest origin_server_ts, ties to the largest event ID."""
    return max(replacements, key=lambda e: (e.origin_server_ts, e.event_id), default=None)
