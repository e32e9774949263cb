import copy

import pytest
import signedjson.key
import signedjson.sign
from hypothesis import given
from hypothesis import strategies as st

from veche.protocol.signing import (
    InvalidKeyError,
    SignatureError,
    SigningKey,
    decode_verify_key_base64,
    encode_verify_key_base64,
    format_signing_key_file,
    generate_signing_key,
    read_signing_key_file,
    sign_json,
    unpadded_b64decode,
    unpadded_b64encode,
    unpadded_urlsafe_b64decode,
    unpadded_urlsafe_b64encode,
    verify_signed_json,
)

# appendices.md, "Cryptographic Test Vectors".
SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
SERVER_NAME = "domain"
KEY_ID = "ed25519:1"


@pytest.fixture
def test_key():
    return SigningKey(unpadded_b64decode(SEED_B64), "1")


def test_vector_empty_object(test_key):
    assert sign_json({}, SERVER_NAME, test_key) == {
        "signatures": {
            "domain": {
                "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
            }
        }
    }


def test_vector_data_object(test_key):
    assert sign_json({"one": 1, "two": "Two"}, SERVER_NAME, test_key) == {
        "one": 1,
        "signatures": {
            "domain": {
                "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
            }
        },
        "two": "Two",
    }


def test_signature_ignores_unsigned_and_keeps_other_signatures(test_key):
    obj = {
        "one": 1,
        "two": "Two",
        "unsigned": {"age_ts": 5},
        "signatures": {"other": {"ed25519:x": "abc"}},
    }
    signed = sign_json(obj, SERVER_NAME, test_key)
    assert signed["unsigned"] == {"age_ts": 5}
    assert signed["signatures"]["other"] == {"ed25519:x": "abc"}
    assert signed["signatures"]["domain"][KEY_ID].startswith("KqmLSbO39")
    verify_signed_json(signed, SERVER_NAME, KEY_ID, test_key.verify_key)


def test_key_properties(test_key):
    assert test_key.version == "1"
    assert test_key.key_id == KEY_ID
    assert len(test_key.sign(b"x")) == 64
    test_key.verify_key.verify(b"x", test_key.sign(b"x"))


def test_verify_rejects_tampering_and_missing_signatures(test_key):
    signed = sign_json({"one": 1}, SERVER_NAME, test_key)
    verify_key = test_key.verify_key
    tampered = dict(signed, one=2)
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signed_json(tampered, SERVER_NAME, KEY_ID, verify_key)
    with pytest.raises(SignatureError, match="no signature"):
        verify_signed_json(signed, "elsewhere", KEY_ID, verify_key)
    with pytest.raises(SignatureError, match="no signature"):
        verify_signed_json(signed, SERVER_NAME, "ed25519:2", verify_key)
    with pytest.raises(SignatureError, match="no signature"):
        verify_signed_json({"one": 1}, SERVER_NAME, KEY_ID, verify_key)
    broken = copy.deepcopy(signed)
    broken["signatures"][SERVER_NAME][KEY_ID] = "!!!"
    with pytest.raises(SignatureError, match="not base64"):
        verify_signed_json(broken, SERVER_NAME, KEY_ID, verify_key)
    broken["signatures"][SERVER_NAME][KEY_ID] = "AAAA"
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signed_json(broken, SERVER_NAME, KEY_ID, verify_key)
    other_key = generate_signing_key("1").verify_key
    with pytest.raises(SignatureError, match="bad signature"):
        verify_signed_json(signed, SERVER_NAME, KEY_ID, other_key)


def test_verify_with_legacy_numbers(test_key):
    obj = {"level": 50.5}
    with pytest.raises(Exception):
        sign_json(dict(obj), SERVER_NAME, test_key)
    signed = sign_json(dict(obj), SERVER_NAME, test_key, strict=False)
    verify_signed_json(signed, SERVER_NAME, KEY_ID, test_key.verify_key, strict=False)
    with pytest.raises(SignatureError, match="canonical"):
        verify_signed_json(signed, SERVER_NAME, KEY_ID, test_key.verify_key)


def test_key_file_round_trip(test_key):
    text = format_signing_key_file(test_key)
    # The spec's seed has non-zero padding bits in its last character; the canonical
    # encoding of the same 32 bytes ends in "0".
    assert text == f"ed25519 1 {SEED_B64[:-1]}0\n"
    key = read_signing_key_file(text)
    assert key.key_id == KEY_ID and key.seed == test_key.seed


def test_key_file_reads_synapse_generated_files():
    key = signedjson.key.generate_signing_key("a_AbCd")
    text = "\n".join(
        f"{k.alg} {k.version} {signedjson.key.encode_signing_key_base64(k)}"
        for k in [key, signedjson.key.generate_signing_key("old")]
    )
    ours = read_signing_key_file(text + "\n")
    assert ours.version == "a_AbCd"
    assert bytes(ours.verify_key) == bytes(key.verify_key)


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "ed25519 1", "rsa 1 AAAA", "ed25519 1 not-base64!", "ed25519 1 AAAA", "ed25519 a:b " + SEED_B64],
)
def test_key_file_errors(text):
    with pytest.raises(InvalidKeyError):
        read_signing_key_file(text)


def test_verify_key_base64(test_key):
    b64 = encode_verify_key_base64(test_key.verify_key)
    assert bytes(decode_verify_key_base64("ed25519:1", b64)) == bytes(test_key.verify_key)
    assert bytes(decode_verify_key_base64("ed25519:1", b64 + "=")) == bytes(test_key.verify_key)
    for key_id, value in [("curve25519:1", b64), ("ed25519", b64), ("ed25519:1", "AAAA"), ("ed25519:1", "*")]:
        with pytest.raises(InvalidKeyError):
            decode_verify_key_base64(key_id, value)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"", ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"fooba", "Zm9vYmE"),
        (b"foobar", "Zm9vYmFy"),
    ],
)
def test_unpadded_base64_spec_examples(raw, encoded):
    assert unpadded_b64encode(raw) == encoded
    assert unpadded_b64decode(encoded) == raw
    padded = encoded + "=" * (-len(encoded) % 4)
    assert unpadded_b64decode(padded) == raw


def test_urlsafe_alphabet():
    raw = bytes([0xFB, 0xFF, 0xBF])
    assert unpadded_b64encode(raw) == "+/+/"
    assert unpadded_urlsafe_b64encode(raw) == "-_-_"
    assert unpadded_urlsafe_b64decode("-_-_") == raw
    with pytest.raises(ValueError):
        unpadded_urlsafe_b64decode("+/+/")
    with pytest.raises(ValueError):
        unpadded_b64decode("-_-_")


@pytest.mark.parametrize("bad", ["A", "Zg=", "Zg===", "Z g", "Zm9v\n", "Zg=a", "====", "é"])
def test_base64_rejects_malformed(bad):
    with pytest.raises(ValueError):
        unpadded_b64decode(bad)


@given(st.binary())
def test_base64_round_trip(raw):
    assert unpadded_b64decode(unpadded_b64encode(raw)) == raw
    assert unpadded_urlsafe_b64decode(unpadded_urlsafe_b64encode(raw)) == raw


json_objects = st.dictionaries(
    st.text().filter(lambda k: k not in ("signatures", "unsigned")),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
        max_leaves=10,
    ),
    max_size=6,
)


@given(json_objects, st.binary(min_size=32, max_size=32))
def test_sign_verify_agrees_with_signedjson(obj, seed):
    ours = SigningKey(seed, "k1")
    theirs = signedjson.key.decode_signing_key_base64("ed25519", "k1", unpadded_b64encode(seed))
    signed_by_us = sign_json(copy.deepcopy(obj), "srv", ours)
    signed_by_them = signedjson.sign.sign_json(copy.deepcopy(obj), "srv", theirs)
    assert signed_by_us["signatures"] == signed_by_them["signatures"]
    verify_signed_json(signed_by_them, "srv", "ed25519:k1", ours.verify_key)
    theirs_verify = signedjson.key.get_verify_key(theirs)
    signedjson.sign.verify_signed_json(signed_by_us, "srv", theirs_verify)
