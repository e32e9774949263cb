"""X-Matrix header parsing and formatting, and request signatures checked with the
independent `signedjson` package (what Synapse uses)."""

from __future__ import annotations

import pytest
import signedjson.key
import signedjson.sign
from nacl.signing import VerifyKey

from veche.protocol.signing import SignatureError, generate_signing_key, unpadded_b64encode
from veche.protocol.x_matrix import (
    InvalidAuthHeader,
    XMatrixAuth,
    format_x_matrix,
    parse_x_matrix,
    request_object,
    sign_request,
    verify_request,
)

SPEC_EXAMPLE = (
    'X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",'
    'key="ed25519:key1",sig="ABCDEF..."'
)


def test_parses_the_spec_example() -> None:
    assert parse_x_matrix(SPEC_EXAMPLE) == XMatrixAuth(
        origin="origin.hs.example.com",
        destination="destination.hs.example.com",
        key="ed25519:key1",
        sig="ABCDEF...",
    )


def test_formats_like_the_spec_example() -> None:
    assert format_x_matrix(parse_x_matrix(SPEC_EXAMPLE)) == SPEC_EXAMPLE


@pytest.mark.parametrize(
    "header",
    [
        # Several spaces after the scheme, spaces and tabs around commas, any name case.
        'X-Matrix   origin="a.example" ,\tKEY="ed25519:k" , Sig="c2ln"',
        # Any order; an unknown parameter is ignored.
        'x-matrix sig="c2ln",foo="bar",key="ed25519:k",origin="a.example"',
        # Bare values, colons included, for older senders.
        "X-Matrix origin=a.example,key=ed25519:k,sig=c2ln",
        # Backslash escapes are undone.
        'X-Matrix origin="a\\.example",key="ed25519:k",sig="c2ln"',
    ],
)
def test_parses_rfc9110_variants(header: str) -> None:
    auth = parse_x_matrix(header)
    assert (auth.origin, auth.key, auth.sig, auth.destination) == (
        "a.example", "ed25519:k", "c2ln", None
    )


def test_quoted_value_may_hold_commas_and_quotes() -> None:
    auth = parse_x_matrix('X-Matrix origin="a,b\\"c",key="k",sig="s"')
    assert auth.origin == 'a,b"c'
    assert parse_x_matrix(format_x_matrix(auth)) == auth


@pytest.mark.parametrize(
    "header",
    [
        'Bearer origin="a",key="k",sig="s"',
        'X-Matrix origin="a",key="k"',
        'X-Matrix origin="a",key="k",sig="s",origin="b"',
        'X-Matrix origin="a,key="k",sig="s"',
        "X-Matrix origin",
        'X-Matrix origin="a" key="k",sig="s"',
    ],
)
def test_rejects_malformed_headers(header: str) -> None:
    with pytest.raises(InvalidAuthHeader):
        parse_x_matrix(header)


def test_signature_verifies_with_signedjson() -> None:
    key = generate_signing_key("key1")
    content = {"pdus": [], "big": 2**60}
    header = sign_request(key, "PUT", "/_matrix/federation/v1/send/1?a=%20b", "o.example", "d.example", content)
    auth = parse_x_matrix(header)
    assert (auth.origin, auth.destination, auth.key) == ("o.example", "d.example", "ed25519:key1")

    # Rebuild the signed object the way the spec's example code does and check it with
    # signedjson, the library a Synapse peer verifies with.
    signed = request_object("PUT", "/_matrix/federation/v1/send/1?a=%20b", "o.example", "d.example", content)
    signed["signatures"] = {"o.example": {auth.key: auth.sig}}
    verify_key = signedjson.key.decode_verify_key_bytes("ed25519:key1", bytes(key.verify_key))
    signedjson.sign.verify_signed_json(signed, "o.example", verify_key)


def test_verifies_a_signedjson_signature_and_rejects_changes() -> None:
    peer_key = signedjson.key.generate_signing_key("peer")
    request = request_object("GET", "/_matrix/federation/v1/version", "peer.example", "us.example")
    signedjson.sign.sign_json(request, "peer.example", peer_key)
    auth = XMatrixAuth("peer.example", "us.example", "ed25519:peer", request["signatures"]["peer.example"]["ed25519:peer"])
    verify_key = VerifyKey(peer_key.verify_key.encode())
    verify_request(auth, "GET", "/_matrix/federation/v1/version", "us.example", None, verify_key)
    for method, uri, destination, content in [
        ("POST", "/_matrix/federation/v1/version", "us.example", None),
        ("GET", "/_matrix/federation/v1/version?x=1", "us.example", None),
        ("GET", "/_matrix/federation/v1/version", "other.example", None),
        ("GET", "/_matrix/federation/v1/version", "us.example", {}),
    ]:
        with pytest.raises(SignatureError):
            verify_request(auth, method, uri, destination, content, verify_key)


def test_bad_signature_encoding_is_a_signature_error() -> None:
    key = generate_signing_key("k")
    auth = XMatrixAuth("o", "d", key.key_id, unpadded_b64encode(b"x" * 64))
    with pytest.raises(SignatureError):
        verify_request(auth, "GET", "/_matrix/x", "d", None, key.verify_key)
