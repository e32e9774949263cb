import hashlib
import re

import canonicaljson
import pytest

from veche.protocol.event_ids import (
    MissingEventId,
    compute_event_id,
    generate_v1_event_id,
    room_id_from_create_event_id,
)
from veche.protocol.hashing import add_hashes_and_signatures
from veche.protocol.redaction import redact
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, get_room_version
from veche.protocol.signing import (
    generate_signing_key,
    unpadded_b64encode,
    unpadded_urlsafe_b64encode,
)

V3_ID = re.compile(r"\$[A-Za-z0-9+/]{43}")
V4_ID = re.compile(r"\$[A-Za-z0-9\-_]{43}")


def _message(n: int) -> dict:
    return {
        "type": "m.room.message",
        "room_id": "!r:hs",
        "sender": "@u:hs",
        "origin_server_ts": n,
        "depth": 3,
        "prev_events": ["$a"],
        "auth_events": ["$b"],
        "content": {"body": "hi", "msgtype": "m.text"},
    }


def test_v1_v2_use_the_event_id_field():
    pdu = dict(_message(1), event_id="$abc:hs")
    for version in ("1", "2"):
        assert compute_event_id(pdu, get_room_version(version)) == "$abc:hs"
        with pytest.raises(MissingEventId):
            compute_event_id(_message(1), get_room_version(version))


def _expected_reference_hash(pdu, rv) -> bytes:
    stripped = {k: v for k, v in redact(pdu, rv).items() if k not in ("signatures", "unsigned")}
    return hashlib.sha256(canonicaljson.encode_canonical_json(stripped)).digest()


@pytest.mark.parametrize("version", [v for v in KNOWN_ROOM_VERSIONS if int(v) >= 3])
def test_hash_based_ids(version):
    rv = get_room_version(version)
    pdu = add_hashes_and_signatures(_message(7), rv, "hs", generate_signing_key("1"))
    event_id = compute_event_id(pdu, rv)
    digest = _expected_reference_hash(pdu, rv)
    if version == "3":
        assert event_id == "$" + unpadded_b64encode(digest)
        assert V3_ID.fullmatch(event_id)
    else:
        assert event_id == "$" + unpadded_urlsafe_b64encode(digest)
        assert V4_ID.fullmatch(event_id)
    # The ID survives redaction and does not depend on signatures or unsigned data.
    assert compute_event_id(redact(pdu, rv), rv) == event_id
    assert compute_event_id(dict(pdu, unsigned={"age": 5}, signatures={}), rv) == event_id
    assert compute_event_id(dict(pdu, depth=4), rv) != event_id


def test_v3_and_v4_differ_only_in_alphabet():
    # Find an event whose hash has a character where the two alphabets differ.
    for n in range(200):
        pdu = _message(n)
        v3 = compute_event_id(pdu, get_room_version("3"))
        if "+" in v3 or "/" in v3:
            break
    else:
        pytest.fail("no hash with + or / in 200 tries")
    v4 = compute_event_id(pdu, get_room_version("4"))
    assert v4 == v3.replace("+", "-").replace("/", "_")


def test_v12_room_id_from_create_event():
    rv = get_room_version("12")
    create = {
        "type": "m.room.create",
        "state_key": "",
        "sender": "@creator:hs",
        "origin_server_ts": 1,
        "depth": 1,
        "prev_events": [],
        "auth_events": [],
        "content": {"room_version": "12"},
    }
    event_id = compute_event_id(create, rv)
    room_id = room_id_from_create_event_id(event_id)
    assert room_id == "!" + event_id[1:]
    assert V4_ID.fullmatch("$" + room_id[1:])
    with pytest.raises(ValueError):
        room_id_from_create_event_id("!not-an-event")


def test_generate_v1_event_id():
    assert generate_v1_event_id("AbC123", "example.org:8448") == "$AbC123:example.org:8448"
    for bad in ("", "a:b"):
        with pytest.raises(ValueError):
            generate_v1_event_id(bad, "hs")
