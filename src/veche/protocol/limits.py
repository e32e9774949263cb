"""Size limits on events (spec: client-server-api/_index.md, "Size limits", and the
identifier limits of appendices.md).
"""

from __future__ import annotations

from typing import Any

from veche.protocol.canonical_json import encode_canonical_json

# The whole PDU in federation format, signatures included, as canonical JSON.
MAX_PDU_SIZE = 65536

MAX_USER_ID_BYTES = 255
MAX_ROOM_ID_BYTES = 255
MAX_EVENT_ID_BYTES = 255
MAX_STATE_KEY_BYTES = 255
MAX_EVENT_TYPE_BYTES = 255

FIELD_LIMITS: dict[str, int] = {
    "sender": MAX_USER_ID_BYTES,
    "room_id": MAX_ROOM_ID_BYTES,
    "state_key": MAX_STATE_KEY_BYTES,
    "type": MAX_EVENT_TYPE_BYTES,
    "event_id": MAX_EVENT_ID_BYTES,
}


class EventTooLarge(ValueError):
    pass


def check_pdu_size(pdu: dict[str, Any], encoded: bytes | None = None) -> None:
    """Raise `EventTooLarge`, naming the field, if `pdu` breaks a size limit.

    `encoded` is the PDU's canonical JSON when the caller already has it. Numbers are
    encoded leniently here: whether they are allowed is not a question of size.
    Fields of the wrong type are left to the schema checks.
    """
    for field, limit in FIELD_LIMITS.items():
        value = pdu.get(field)
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > limit:
            raise EventTooLarge(f"'{field}' is longer than {limit} bytes")
    if encoded is None:
        encoded = encode_canonical_json(pdu, strict=False)
    if len(encoded) > MAX_PDU_SIZE:
        raise EventTooLarge(f"event is {len(encoded)} bytes, more than {MAX_PDU_SIZE}")
