"""Check 1 of "Checks performed on receipt of a PDU": format per room version, size,
reference limits (protocol/federation_checks.py), and checks 2-3 (services/federation/
event_checks.py): signatures and the content hash."""

from __future__ import annotations

from typing import Any

import pytest

from veche.protocol.event_ids import compute_event_id
from veche.protocol.federation_checks import MAX_AUTH_EVENTS, MAX_PREV_EVENTS, InvalidPdu, parse_pdu
from veche.protocol.hashing import add_hashes_and_signatures
from veche.protocol.room_versions import get_room_version
from veche.protocol.signing import SignatureError, SigningKey, generate_signing_key, verify_signed_json
from veche.services.federation.event_checks import EventVerifier

SERVER = "remote.example"
KEY = generate_signing_key("k1")
V12_ROOM = "!" + "R" * 43


def _pdu(version: str, **overrides: Any) -> dict[str, Any]:
    rv = get_room_version(version)
    ref = "$abc:remote.example" if version in ("1", "2") else "$" + "A" * 43
    pdu: dict[str, Any] = {
        "room_id": V12_ROOM if version == "12" else "!room:remote.example",
        "type": "m.room.message",
        "sender": "@bob:remote.example",
        "content": {"body": "hello"},
        "origin_server_ts": 1_700_000_000_000,
        "depth": 5,
        "prev_events": [[ref, {"sha256": "x"}]] if version in ("1", "2") else [ref],
        "auth_events": [],
    }
    if version in ("1", "2"):
        pdu["event_id"] = "$ev:remote.example"
    pdu.update(overrides)
    return add_hashes_and_signatures(pdu, rv, SERVER, KEY)


@pytest.mark.parametrize("version", [str(n) for n in range(1, 13)])
def test_valid_pdus_parse_in_every_version(version: str) -> None:
    rv = get_room_version(version)
    pdu = _pdu(version, unsigned={"age": 5})
    event = parse_pdu(pdu, rv)
    assert event.event_id == compute_event_id(pdu, rv)
    assert "unsigned" not in event.pdu


@pytest.mark.parametrize(
    ("version", "overrides", "message"),
    [
        ("10", {"type": 5}, "type"),
        ("10", {"sender": "bob"}, "sender"),
        ("10", {"depth": True}, "depth"),
        ("10", {"depth": -1}, "depth"),
        ("10", {"depth": 2**53}, "depth"),
        ("10", {"origin_server_ts": "now"}, "origin_server_ts"),
        ("10", {"content": []}, "content"),
        ("10", {"state_key": 1}, "state_key"),
        ("10", {"room_id": "room"}, "room_id"),
        ("10", {"prev_events": [["$x:y", {}]]}, "prev_events"),
        ("10", {"prev_events": ["$notahash:remote.example"]}, "prev_events"),
        ("3", {"prev_events": ["$" + "-" * 43]}, "prev_events"),
        ("1", {"prev_events": ["$abc:remote.example"]}, "prev_events"),
        ("1", {"event_id": None}, "event_id"),
        ("10", {"content": {"n": 1.5}}, "float"),
        ("10", {"content": {"n": 2**60}}, "range"),
        ("12", {"type": "m.room.create", "state_key": "", "room_id": "!x:remote.example"}, "room_id"),
        ("12", {"room_id": "!x:remote.example"}, "room_id"),
        ("11", {"room_id": V12_ROOM}, "room_id"),
        ("3", {"event_id": "$" + "A" * 43}, "event_id"),
        ("12", {"event_id": "$" + "A" * 43}, "event_id"),
    ],
)
def test_malformed_pdus_are_refused(version: str, overrides: dict[str, Any], message: str) -> None:
    pdu = _pdu(version)
    pdu.update(overrides)
    if overrides.get("event_id", "") is None:
        del pdu["event_id"]
    with pytest.raises(InvalidPdu, match=message):
        parse_pdu(pdu, get_room_version(version))


def test_v5_rooms_accept_numbers_v6_forbids() -> None:
    pdu = _pdu("5", content={"n": 2**60})
    parse_pdu(pdu, get_room_version("5"))


def test_missing_hashes_and_signatures_are_refused() -> None:
    rv = get_room_version("10")
    for field in ("hashes", "signatures"):
        pdu = _pdu("10")
        del pdu[field]
        with pytest.raises(InvalidPdu, match=field):
            parse_pdu(pdu, rv)


def test_reference_limits() -> None:
    rv = get_room_version("10")
    ids = ["$" + chr(65 + i) * 43 for i in range(MAX_PREV_EVENTS + 1)]
    parse_pdu(_pdu("10", prev_events=ids[:MAX_PREV_EVENTS]), rv)
    with pytest.raises(InvalidPdu, match="prev_events"):
        parse_pdu(_pdu("10", prev_events=ids), rv)
    with pytest.raises(InvalidPdu, match="auth_events"):
        parse_pdu(_pdu("10", auth_events=ids[: MAX_AUTH_EVENTS + 1]), rv)


def test_oversized_pdus_are_refused() -> None:
    rv = get_room_version("10")
    with pytest.raises(InvalidPdu, match="bytes"):
        parse_pdu(_pdu("10", content={"body": "x" * 70_000}), rv)
    with pytest.raises(InvalidPdu, match="type"):
        parse_pdu(_pdu("10", type="t" * 256), rv)


class _Keyring:
    def __init__(self, keys: dict[str, SigningKey]) -> None:
        self._keys = keys

    async def verify_json(self, server: str, obj: dict[str, Any], *, valid_at_ts: int | None, strict: bool = True) -> None:
        key = self._keys.get(server)
        if key is None or key.key_id not in obj.get("signatures", {}).get(server, {}):
            raise SignatureError(f"not signed by {server}")
        verify_signed_json(obj, server, key.key_id, key.verify_key, strict=strict)


async def test_signatures_and_hashes() -> None:
    rv = get_room_version("10")
    verifier = EventVerifier(_Keyring({SERVER: KEY}))  # type: ignore[arg-type]
    good = parse_pdu(_pdu("10"), rv)
    assert await verifier.verify(good) is good

    tampered = dict(good.pdu, content={"body": "changed"})
    tampered_event = parse_pdu(tampered, rv)
    kept = await verifier.verify(tampered_event)
    assert kept.pdu["content"] == {} and kept.event_id == good.event_id

    forged = _pdu("10")
    add_hashes_and_signatures(forged, rv, SERVER, generate_signing_key("k1"))
    with pytest.raises(SignatureError):
        await verifier.verify(parse_pdu(forged, rv))

    unsigned = _pdu("10")
    unsigned["signatures"] = {}
    with pytest.raises(SignatureError):
        await verifier.verify(parse_pdu(unsigned, rv))

    # v1/v2 also need the event ID's server to sign.
    v1 = _pdu("1", event_id="$ev:third.example")
    with pytest.raises(SignatureError, match="third.example"):
        await EventVerifier(_Keyring({SERVER: KEY})).verify(parse_pdu(v1, get_room_version("1")))  # type: ignore[arg-type]
