"""The client format of events (spec: data/api/client-server/definitions/client_event.yaml).

Servers hand clients a view of the PDU: the federation-only keys (hashes, signatures,
auth/prev events, depth …) are dropped and `unsigned` carries per-request extras.
"""

from __future__ import annotations

from typing import Any

from veche.protocol.events import Event

_CLIENT_KEYS = ("content", "event_id", "origin_server_ts", "room_id", "sender", "state_key", "type")


def format_client_event(
    event: Event,
    *,
    now_ms: int,
    include_room_id: bool = True,
    unsigned: dict[str, Any] | None = None,
    pdu: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Format `event` for the Client-Server API.

    `pdu` replaces the event's own body when the served copy differs (a redacted event
    is served pruned); `unsigned` holds extras such as `prev_content`,
    `redacted_because`, `transaction_id`, `membership` or `m.relations`.
    """
    body = pdu if pdu is not None else event.pdu
    served: dict[str, Any] = {"event_id": event.event_id, "room_id": event.room_id}
    for key in _CLIENT_KEYS:
        if key in body:
            served[key] = body[key]
    if not include_room_id:
        served.pop("room_id", None)
    served.setdefault("content", {})
    if event.type == "m.room.redaction":
        _copy_redacts_both_ways(event, served)
    extras = {"age": max(0, now_ms - event.origin_server_ts)}
    if unsigned:
        extras.update(unsigned)
    served["unsigned"] = extras
    return served


def _copy_redacts_both_ways(event: Event, served: dict[str, Any]) -> None:
    # v11 moved `redacts` into content; servers expose it in both places for clients
    # written against either layout (rooms/v11.md "Event format").
    redacts = event.redacts
    if redacts is None:
        return
    served["redacts"] = redacts
    if "redacts" not in served["content"]:
        served["content"] = {**served["content"], "redacts": redacts}


def strip_event_for_invite(event: Event) -> dict[str, Any]:
    """The stripped state form used in invite/knock previews (stripped_state.yaml)."""
    return {
        "content": event.content,
        "sender": event.sender,
        "state_key": event.state_key,
        "type": event.type,
    }
