"""Content hashes, reference hashes and event signatures (spec: server-server-api.md,
"Signing Events").

Room versions 1–5 do not enforce the canonical JSON number rules, so their events are
encoded leniently (see `canonical_json`); from version 6 on, an event that breaks the
rules cannot be hashed or signed and raises `CanonicalJsonError`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from nacl.signing import VerifyKey

from veche.protocol.canonical_json import encode_canonical_json
from veche.protocol.redaction import redact_shallow
from veche.protocol.room_versions import RoomVersion
from veche.protocol.signing import (
    SigningKey,
    sign_json,
    signed_bytes,
    unpadded_b64decode,
    unpadded_b64encode,
    verify_signed_json,
)


def compute_content_hash(pdu: dict[str, Any], room_version: RoomVersion | None = None) -> bytes:
    """SHA-256 of the whole event without `unsigned`, `signatures` and `hashes`.

    Without a room version the strict number rules apply.
    """
    hashed = {k: v for k, v in pdu.items() if k not in ("unsigned", "signatures", "hashes")}
    return hashlib.sha256(encode_canonical_json(hashed, strict=_strict(room_version))).digest()


def check_content_hash(pdu: dict[str, Any], room_version: RoomVersion | None = None) -> bool:
    """Whether `hashes.sha256` matches the event; False too if it is missing or malformed.

    A mismatch means the event reached us redacted (or was tampered with), and the
    redacted copy is what should be kept. An event that cannot be encoded under its room
    version's rules raises `CanonicalJsonError`.
    """
    hashes = pdu.get("hashes")
    if not isinstance(hashes, dict):
        return False
    try:
        expected = unpadded_b64decode(hashes.get("sha256"))
    except ValueError:
        return False
    return expected == compute_content_hash(pdu, room_version)


def compute_reference_hash(pdu: dict[str, Any], room_version: RoomVersion) -> bytes:
    """SHA-256 of the redacted event without `signatures` and `unsigned`."""
    redacted = redact_shallow(pdu, room_version)
    return hashlib.sha256(signed_bytes(redacted, strict=_strict(room_version))).digest()


def add_hashes_and_signatures(
    pdu: dict[str, Any], room_version: RoomVersion, server_name: str, key: SigningKey
) -> dict[str, Any]:
    """Hash and sign an outgoing event in place and return it.

    In the spec's order: the content hash goes into `hashes`, then the redacted event is
    signed, and the signatures are copied back onto the full event.
    """
    strict = _strict(room_version)
    pdu["hashes"] = {"sha256": unpadded_b64encode(compute_content_hash(pdu, room_version))}
    redacted = redact_shallow(pdu, room_version)
    # redact_shallow shares `signatures` with `pdu`; sign a copy so that `pdu` only
    # changes by the assignment below.
    redacted["signatures"] = {
        name: dict(sigs) for name, sigs in (pdu.get("signatures") or {}).items()
    }
    pdu["signatures"] = sign_json(redacted, server_name, key, strict=strict)["signatures"]
    return pdu


def verify_event_signature(
    pdu: dict[str, Any],
    room_version: RoomVersion,
    server_name: str,
    key_id: str,
    verify_key: VerifyKey,
) -> None:
    """Raise `SignatureError` unless `server_name` signed the event with `key_id`.

    The signature covers the redacted event, so this succeeds on a redacted copy too.
    Which servers must sign, and with which keys, is the caller's decision.
    """
    redacted = redact_shallow(pdu, room_version)
    verify_signed_json(
        redacted, server_name, key_id, verify_key, strict=_strict(room_version)
    )


def _strict(room_version: RoomVersion | None) -> bool:
    return room_version is None or room_version.strict_canonical_json
