"""Is a received PDU a well-formed event of its room version? (check 1 of "Checks
performed on receipt of a PDU", server-server-api.md).

`parse_pdu` checks the shape the room version's PDU definition requires
(data/api/server-server/definitions/pdu_v*.yaml and their components), the size limits,
the canonical JSON number rules of v6+, and gives back the `Event` with its ID. What it
does not check needs keys or other events: signatures, hashes and the auth rules.

Also here: the transaction limits and the bounds on `prev_events` / `auth_events`.
"""

from __future__ import annotations

from typing import Any

from veche.protocol.canonical_json import CanonicalJsonError, validate_canonical_json
from veche.protocol.event_ids import compute_event_id
from veche.protocol.events import Event
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id, validate_event_id, validate_room_id
from veche.protocol.limits import EventTooLarge, check_pdu_size
from veche.protocol.room_versions import EventFormat, RoomVersion

# transactions.yaml / server-server-api.md "Transactions".
MAX_PDUS_PER_TRANSACTION = 50
MAX_EDUS_PER_TRANSACTION = 100

# components/auth_events_prev_events_v4.yaml (and pdu_v1/v3): "less than or equal to".
MAX_PREV_EVENTS = 20
MAX_AUTH_EVENTS = 10

# components/depth_v6.yaml: depth below the canonical JSON integer limit.
MAX_DEPTH = 2**53 - 1
MAX_TIMESTAMP = 2**53 - 1


class InvalidPdu(ValueError):
    """The PDU is not a valid event of its room version; it must be dropped."""


def room_id_of(pdu: Any) -> str | None:
    """The room a received PDU claims to belong to, read before its version is known.

    v12 create events carry no room_id; those never arrive alone in a transaction.
    """
    if not isinstance(pdu, dict):
        return None
    room_id = pdu.get("room_id")
    return room_id if isinstance(room_id, str) else None


def parse_pdu(pdu: Any, room_version: RoomVersion) -> Event:
    """The `Event` for a received PDU, or `InvalidPdu` saying what is wrong with it.

    The returned event keeps the dict as received (with `unsigned` dropped: that part
    is the sender's to fill and no one else's to trust).
    """
    if not isinstance(pdu, dict):
        raise InvalidPdu("PDU is not a JSON object")
    pdu = {key: value for key, value in pdu.items() if key != "unsigned"}
    _check_fields(pdu, room_version)
    try:
        check_pdu_size(pdu)
    except EventTooLarge as e:
        raise InvalidPdu(str(e)) from None
    if room_version.strict_canonical_json:
        try:
            validate_canonical_json(pdu)
        except CanonicalJsonError as e:
            raise InvalidPdu(str(e)) from None
    try:
        event_id = compute_event_id(pdu, room_version)
    except (ValueError, CanonicalJsonError) as e:
        raise InvalidPdu(f"cannot compute the event ID: {e}") from None
    return Event(pdu, room_version, event_id)


def _check_fields(pdu: dict[str, Any], rv: RoomVersion) -> None:
    event_type = _require(pdu, "type", str)
    sender = _require(pdu, "sender", str)
    _identifier(parse_user_id, sender, "sender")
    ts = _require(pdu, "origin_server_ts", int)
    if not 0 <= ts <= MAX_TIMESTAMP:
        raise InvalidPdu("origin_server_ts is out of range")
    _require(pdu, "content", dict)
    depth = _require(pdu, "depth", int)
    if not 0 <= depth <= MAX_DEPTH:
        raise InvalidPdu("depth is out of range")
    hashes = _require(pdu, "hashes", dict)
    if not isinstance(hashes.get("sha256"), str):
        raise InvalidPdu("hashes.sha256 is missing")
    signatures = _require(pdu, "signatures", dict)
    for server_signatures in signatures.values():
        if not isinstance(server_signatures, dict) or not all(
            isinstance(s, str) for s in server_signatures.values()
        ):
            raise InvalidPdu("signatures must map servers to key IDs to strings")
    if "state_key" in pdu and not isinstance(pdu["state_key"], str):
        raise InvalidPdu("state_key must be a string")
    if "redacts" in pdu and not isinstance(pdu["redacts"], str):
        raise InvalidPdu("redacts must be a string")

    is_create = event_type == "m.room.create" and pdu.get("state_key") == ""
    if rv.room_id_from_create_event and is_create:
        # pdu_v12.yaml: the create event names no room; its ID is the room ID.
        if "room_id" in pdu:
            raise InvalidPdu("an m.room.create event of this room version has no room_id")
    else:
        _check_room_id(_require(pdu, "room_id", str), rv)

    if rv.event_format is EventFormat.V1:
        _identifier(lambda s: validate_event_id(s, rv), _require(pdu, "event_id", str), "event_id")
    elif "event_id" in pdu:
        # rooms/v3.md: the ID is the reference hash, which the receiver computes; a
        # claimed one could only disagree with it.
        raise InvalidPdu("events of this room version carry no event_id")
    _check_references(pdu, "prev_events", MAX_PREV_EVENTS, rv)
    _check_references(pdu, "auth_events", MAX_AUTH_EVENTS, rv)


def _check_room_id(room_id: str, rv: RoomVersion) -> None:
    _identifier(validate_room_id, room_id, "room_id")
    # appendices.md "Room IDs": v12 rooms are named after their create event, older ones
    # by the server that made them.
    if rv.room_id_from_create_event == (":" in room_id):
        form = "the create event's hash" if rv.room_id_from_create_event else "!opaque:server_name"
        raise InvalidPdu(f"room_id must be {form} in this room version")


def _check_references(pdu: dict[str, Any], field: str, limit: int, rv: RoomVersion) -> None:
    entries = _require(pdu, field, list)
    if len(entries) > limit:
        raise InvalidPdu(f"{field} lists {len(entries)} events, more than {limit}")
    for entry in entries:
        if rv.event_format is EventFormat.V1:
            # pdu_v1.yaml: [event_id, {algorithm: hash}] pairs.
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)):
                raise InvalidPdu(f"{field} entries must be [event_id, hashes] pairs")
            entry = entry[0]
        if not isinstance(entry, str):
            raise InvalidPdu(f"{field} entries must be event IDs")
        _identifier(lambda s: validate_event_id(s, rv), entry, field)


def _require(pdu: dict[str, Any], field: str, kind: type) -> Any:
    value = pdu.get(field)
    # bool is an int in Python, but not in JSON.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidPdu(f"{field} is missing or not a {kind.__name__}")
    return value


def _identifier(check: Any, value: str, field: str) -> None:
    try:
        check(value)
    except InvalidIdentifier as e:
        raise InvalidPdu(f"{field}: {e}") from None
