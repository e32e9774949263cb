"""Pure end-to-end key rules: device key and cross-signing key checks, signature checks,
and which backed-up session key to keep."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api.e2ee_helpers import CrossSigningSet, Ed25519Key, FakeDevice
from veche.protocol.e2e_keys import (
    BackupKeyMeta,
    BadKeySignature,
    InvalidKeyObject,
    backup_key_replaces,
    check_device_keys,
    parse_cross_signing_key,
    parse_one_time_keys,
    same_signed_content,
    verify_key_signature,
)

USER = "@alice:example.org"


def test_device_keys_signed_by_the_device_pass():
    device = FakeDevice(USER, "DEV")
    assert check_device_keys(device.device_keys(), USER, "DEV") == device.key.public


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda k: k.update(user_id="@bob:example.org"), InvalidKeyObject),
        (lambda k: k.update(device_id="OTHER"), InvalidKeyObject),
        (lambda k: k.update(algorithms="m.megolm.v1.aes-sha2"), InvalidKeyObject),
        (lambda k: k["keys"].pop("ed25519:DEV"), InvalidKeyObject),
        (lambda k: k["keys"].update({"curve25519:DEV": "changed"}), BadKeySignature),
        (lambda k: k.update(signatures={}), BadKeySignature),
    ],
)
def test_device_keys_that_do_not_check_out(change, error):
    keys = FakeDevice(USER, "DEV").device_keys()
    change(keys)
    with pytest.raises(error):
        check_device_keys(keys, USER, "DEV")


def test_unsigned_data_is_outside_the_signature():
    keys = FakeDevice(USER, "DEV").device_keys()
    keys["unsigned"] = {"device_display_name": "phone"}
    check_device_keys(keys, USER, "DEV")


def test_one_time_key_names():
    assert parse_one_time_keys({"signed_curve25519:AAA": {"key": "k"}}, "f") == [
        ("signed_curve25519", "AAA", {"key": "k"})
    ]
    for bad in ({"noalgorithm": {}}, {":id": {}}, {"alg:": {}}, {"alg:id": 5}, []):
        with pytest.raises(InvalidKeyObject):
            parse_one_time_keys(bad, "f")


def test_cross_signing_keys():
    keys = CrossSigningSet(USER)
    master = parse_cross_signing_key(keys.key_json("master"), USER, "master")
    assert master.public_key == keys.master.public
    assert master.key_id == keys.master.key_id
    self_signing = keys.key_json("self_signing")
    verify_key_signature(self_signing, USER, master.key_id, master.public_key)
    with pytest.raises(BadKeySignature):
        verify_key_signature(self_signing, USER, master.key_id, keys.user_signing.public)
    with pytest.raises(InvalidKeyObject):
        parse_cross_signing_key(keys.key_json("master"), USER, "self_signing")
    misnamed = keys.key_json("master")
    misnamed["keys"] = {"ed25519:name": keys.master.public}
    with pytest.raises(InvalidKeyObject):
        parse_cross_signing_key(misnamed, USER, "master")
    not_a_key = keys.key_json("master")
    not_a_key["keys"] = {"ed25519:abc": "abc"}
    with pytest.raises(InvalidKeyObject):
        parse_cross_signing_key(not_a_key, USER, "master")


def test_same_signed_content_ignores_signatures():
    key = Ed25519Key()
    obj = {"keys": {"a": "b"}}
    assert same_signed_content(obj, key.sign(dict(obj), USER))
    assert not same_signed_content(obj, {"keys": {"a": "c"}})


def meta(verified: bool, index: int, forwarded: int) -> BackupKeyMeta:
    return BackupKeyMeta(is_verified=verified, first_message_index=index, forwarded_count=forwarded)


def test_backup_replacement_rules():
    # end_to_end_encryption.md "Server-side key backups", in order of precedence.
    assert backup_key_replaces(meta(False, 0, 0), meta(True, 9, 9))
    assert not backup_key_replaces(meta(True, 9, 9), meta(False, 0, 0))
    assert backup_key_replaces(meta(False, 5, 0), meta(False, 4, 9))
    assert not backup_key_replaces(meta(False, 4, 0), meta(False, 5, 0))
    assert backup_key_replaces(meta(False, 4, 3), meta(False, 4, 2))
    assert not backup_key_replaces(meta(False, 4, 2), meta(False, 4, 3))
    assert not backup_key_replaces(meta(False, 4, 2), meta(False, 4, 2))


keys_meta = st.builds(meta, st.booleans(), st.integers(0, 5), st.integers(0, 5))


@given(keys_meta, keys_meta)
def test_backup_replacement_is_a_strict_preference(a, b):
    # Never both ways: whatever order uploads arrive in, the same key ends up kept.
    assert not (backup_key_replaces(a, b) and backup_key_replaces(b, a))
    if a != b:
        assert backup_key_replaces(a, b) or backup_key_replaces(b, a)
