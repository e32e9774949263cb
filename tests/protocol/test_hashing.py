import copy
import hashlib

import canonicaljson
import pytest

from veche.protocol.canonical_json import CanonicalJsonError
from veche.protocol.hashing import (
    add_hashes_and_signatures,
    check_content_hash,
    compute_content_hash,
    compute_reference_hash,
    verify_event_signature,
)
from veche.protocol.redaction import redact
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, get_room_version
from veche.protocol.signing import (
    SignatureError,
    SigningKey,
    generate_signing_key,
    unpadded_b64decode,
    unpadded_b64encode,
)

# appendices.md, "Cryptographic Test Vectors" → "Event Signing". The vectors keep
# `origin`, so they use the redaction algorithm of room versions 1-10.
SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

MINIMAL_EVENT = {
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {"age_ts": 1000000},
}
MINIMAL_EVENT_SIGNED = {
    "auth_events": [],
    "content": {},
    "depth": 3,
    "hashes": {"sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
    "origin": "domain",
    "origin_server_ts": 1000000,
    "prev_events": [],
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        }
    },
    "type": "X",
    "unsigned": {"age_ts": 1000000},
}
MESSAGE_EVENT = {
    "content": {"body": "Here is the message content"},
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {"age_ts": 1000000},
}
MESSAGE_EVENT_SIGNED = {
    "content": {"body": "Here is the message content"},
    "event_id": "$0:domain",
    "hashes": {"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        }
    },
    "unsigned": {"age_ts": 1000000},
}

PRE_V11 = [v for v in KNOWN_ROOM_VERSIONS if int(v) <= 10]


@pytest.fixture
def test_key():
    return SigningKey(unpadded_b64decode(SEED_B64), "1")


@pytest.mark.parametrize("version", PRE_V11)
@pytest.mark.parametrize(
    ("event", "expected"),
    [(MINIMAL_EVENT, MINIMAL_EVENT_SIGNED), (MESSAGE_EVENT, MESSAGE_EVENT_SIGNED)],
)
def test_event_signing_vectors(test_key, version, event, expected):
    pdu = copy.deepcopy(event)
    result = add_hashes_and_signatures(pdu, get_room_version(version), "domain", test_key)
    assert result is pdu
    assert result == expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [(MINIMAL_EVENT, MINIMAL_EVENT_SIGNED), (MESSAGE_EVENT, MESSAGE_EVENT_SIGNED)],
)
def test_vectors_content_hash_and_signature_check(test_key, event, expected):
    assert unpadded_b64encode(compute_content_hash(event)) == expected["hashes"]["sha256"]
    assert check_content_hash(expected)
    rv = get_room_version("1")
    verify_event_signature(expected, rv, "domain", "ed25519:1", test_key.verify_key)
    # The signature covers the redacted event, so a redacted copy still verifies...
    verify_event_signature(redact(expected, rv), rv, "domain", "ed25519:1", test_key.verify_key)
    # ...though its content hash no longer matches when something was redacted away.
    if expected["content"]:
        assert not check_content_hash(redact(expected, rv))


def test_content_hash_ignores_unsigned_signatures_and_hashes():
    base = compute_content_hash(MESSAGE_EVENT)
    changed = dict(MESSAGE_EVENT, unsigned={"x": 1}, signatures={"a": {}}, hashes={"b": "c"})
    assert compute_content_hash(changed) == base
    assert compute_content_hash(dict(MESSAGE_EVENT, depth=1)) != base


@pytest.mark.parametrize("hashes", [None, "x", {}, {"sha256": 5}, {"sha256": "!!"}, {"sha256": "AAAA"}])
def test_check_content_hash_false_on_missing_or_wrong(hashes):
    pdu = dict(MESSAGE_EVENT)
    if hashes is not None:
        pdu["hashes"] = hashes
    assert not check_content_hash(pdu)


@pytest.mark.parametrize("version", list(KNOWN_ROOM_VERSIONS))
def test_reference_hash_is_sha256_of_redacted_event(version):
    rv = get_room_version(version)
    pdu = dict(MESSAGE_EVENT_SIGNED, prev_events=[], auth_events=[], depth=5)
    stripped = {k: v for k, v in redact(pdu, rv).items() if k not in ("signatures", "unsigned")}
    expected = hashlib.sha256(canonicaljson.encode_canonical_json(stripped)).digest()
    assert compute_reference_hash(pdu, rv) == expected
    # Unchanged by redaction, by new signatures, and by unsigned data.
    assert compute_reference_hash(redact(pdu, rv), rv) == expected
    resigned = dict(pdu, signatures={"other": {"ed25519:x": "y"}}, unsigned={"age": 1})
    assert compute_reference_hash(resigned, rv) == expected


@pytest.mark.parametrize("version", list(KNOWN_ROOM_VERSIONS))
def test_sign_then_verify_each_version(version):
    rv = get_room_version(version)
    key = generate_signing_key("abc")
    pdu = {
        "type": "m.room.member",
        "state_key": "@u:hs",
        "sender": "@u:hs",
        "room_id": "!r:hs",
        "origin_server_ts": 5,
        "depth": 2,
        "prev_events": [],
        "auth_events": [],
        "content": {"membership": "join", "displayname": "U"},
        "signatures": {"elsewhere": {"ed25519:z": "sig"}},
    }
    add_hashes_and_signatures(pdu, rv, "hs", key)
    assert pdu["signatures"]["elsewhere"] == {"ed25519:z": "sig"}
    assert check_content_hash(pdu, rv)
    verify_event_signature(pdu, rv, "hs", "ed25519:abc", key.verify_key)
    # Non-essential content is covered only by the hash, the essential part by the signature.
    verify_event_signature(
        dict(pdu, content={"membership": "join"}), rv, "hs", "ed25519:abc", key.verify_key
    )
    with pytest.raises(SignatureError):
        verify_event_signature(
            dict(pdu, content={"membership": "leave"}), rv, "hs", "ed25519:abc", key.verify_key
        )
    with pytest.raises(SignatureError):
        verify_event_signature(pdu, rv, "other", "ed25519:abc", key.verify_key)


def test_legacy_numbers_only_in_old_room_versions():
    key = generate_signing_key("1")
    content = {"users": {"@bob:localhost": 50.57}, "ban": 2**60}
    pdu = {"type": "m.room.power_levels", "state_key": "", "sender": "@a:hs", "content": content}
    v5, v6 = get_room_version("5"), get_room_version("6")
    add_hashes_and_signatures(pdu, v5, "hs", key)
    assert check_content_hash(pdu, v5)
    verify_event_signature(pdu, v5, "hs", "ed25519:1", key.verify_key)
    with pytest.raises(CanonicalJsonError):
        compute_content_hash(pdu, v6)
    with pytest.raises(CanonicalJsonError):
        compute_reference_hash(pdu, v6)
    with pytest.raises(SignatureError):
        verify_event_signature(pdu, v6, "hs", "ed25519:1", key.verify_key)
