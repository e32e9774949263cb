"""Key responses: ours as peers (and signedjson) read them, and checks on peers' ones."""

from __future__ import annotations

import copy

import pytest
import signedjson.key
import signedjson.sign

from veche.protocol.server_keys import (
    MAX_KEY_VALIDITY_MS,
    InvalidServerKeys,
    OldKey,
    add_notary_signature,
    build_key_response,
    parse_key_response,
)
from veche.protocol.signing import generate_signing_key

NOW = 1_700_000_000_000


def _signedjson_key(key):  # noqa: ANN001, ANN202
    return signedjson.key.decode_verify_key_bytes(key.key_id, bytes(key.verify_key))


def test_our_response_checks_out_with_signedjson() -> None:
    key = generate_signing_key("new")
    old = generate_signing_key("old")
    response = build_key_response("us.example", key, [OldKey(old.key_id, old.verify_key, NOW - 5)], NOW + 10)
    signedjson.sign.verify_signed_json(response, "us.example", _signedjson_key(key))
    assert response["old_verify_keys"]["ed25519:old"]["expired_ts"] == NOW - 5
    assert response["valid_until_ts"] == NOW + 10


def test_parse_reads_current_and_old_keys_with_the_7_day_cap() -> None:
    key = generate_signing_key("new")
    old = generate_signing_key("old")
    far = NOW + 365 * 24 * 3600 * 1000
    response = build_key_response("peer.example", key, [OldKey(old.key_id, old.verify_key, NOW - 5)], far)
    keys = parse_key_response(response, "peer.example", NOW)
    current = keys.keys["ed25519:new"]
    assert current.valid_until_ts == NOW + MAX_KEY_VALIDITY_MS and not current.expired
    assert keys.keys["ed25519:old"].valid_until_ts == NOW - 5 and keys.keys["ed25519:old"].expired
    assert current.valid_at(NOW) and current.valid_at(None) and not current.valid_at(far)


def test_parse_accepts_a_signedjson_signed_response() -> None:
    peer_key = signedjson.key.generate_signing_key("auto")
    response = {
        "server_name": "peer.example",
        "verify_keys": {"ed25519:auto": {"key": signedjson.key.encode_verify_key_base64(peer_key.verify_key)}},
        "valid_until_ts": NOW + 1000,
    }
    signedjson.sign.sign_json(response, "peer.example", peer_key)
    assert parse_key_response(response, "peer.example", NOW).keys["ed25519:auto"].valid_until_ts == NOW + 1000


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r: r.update(server_name="other.example"),
        lambda r: r.pop("valid_until_ts"),
        lambda r: r.update(valid_until_ts=NOW + 1),  # no longer matches the signature
        lambda r: r.update(verify_keys={}),
        lambda r: r["signatures"].clear(),
        lambda r: r.update(old_verify_keys={"ed25519:x": {"key": "AAAA"}}),
    ],
)
def test_parse_rejects_bad_responses(spoil) -> None:  # noqa: ANN001
    response = build_key_response("peer.example", generate_signing_key("k"), [], NOW + 10)
    spoil(response)
    with pytest.raises(InvalidServerKeys):
        parse_key_response(response, "peer.example", NOW)


def test_notary_signature_is_added_beside_the_servers_own() -> None:
    key = generate_signing_key("k")
    notary = generate_signing_key("n")
    response = build_key_response("peer.example", key, [], NOW + 10)
    original = copy.deepcopy(response)
    signed = add_notary_signature(response, "notary.example", notary)
    assert response == original
    signedjson.sign.verify_signed_json(signed, "peer.example", _signedjson_key(key))
    signedjson.sign.verify_signed_json(signed, "notary.example", _signedjson_key(notary))
