"""Profile field rules (profile.yaml)."""

from __future__ import annotations

import pytest

from veche.protocol.profiles import (
    InvalidProfileField,
    check_key,
    check_profile_size,
    clears_field,
    is_mxc_uri,
    member_event_fields,
    normalize_value,
)


@pytest.mark.parametrize("key", ["displayname", "avatar_url", "m.tz", "com.example.field", "a.b_c.d9"])
def test_valid_keys(key: str) -> None:
    check_key(key)


@pytest.mark.parametrize(
    ("key", "errcode"),
    [
        ("m.custom", "M_INVALID_PARAM"),
        ("nodots", "M_INVALID_PARAM"),
        ("Com.example", "M_INVALID_PARAM"),
        ("com..example", "M_INVALID_PARAM"),
        ("com.exa-mple", "M_INVALID_PARAM"),
        ("com." + "x" * 252, "M_KEY_TOO_LARGE"),
    ],
)
def test_invalid_keys(key: str, errcode: str) -> None:
    with pytest.raises(InvalidProfileField) as raised:
        check_key(key)
    assert raised.value.errcode == errcode


@pytest.mark.parametrize(
    ("uri", "valid"),
    [
        ("mxc://example.org/SDGdghriugerRg", True),
        ("mxc://[::1]:8448/a_b-C", True),
        ("mxc://example.org/", False),
        ("mxc://example.org", False),
        ("mxc:///media", False),
        ("mxc://example.org/a/b", False),
        ("https://example.org/a", False),
    ],
)
def test_mxc_uris(uri: str, valid: bool) -> None:
    assert is_mxc_uri(uri) is valid


def test_values() -> None:
    assert normalize_value("displayname", "Alice") == "Alice"
    assert normalize_value("com.example.x", None) is None
    assert clears_field("avatar_url", "") and clears_field("displayname", "")
    assert not clears_field("com.example.x", "")
    for key, value in [("displayname", 1), ("avatar_url", None), ("m.tz", ["UTC"]), ("avatar_url", "x")]:
        with pytest.raises(InvalidProfileField):
            normalize_value(key, value)


def test_profile_size_limit() -> None:
    check_profile_size({"com.example.x": "x" * 65_000})
    with pytest.raises(InvalidProfileField) as raised:
        check_profile_size({"com.example.x": "x" * 65_536})
    assert raised.value.errcode == "M_PROFILE_TOO_LARGE"


def test_member_event_fields() -> None:
    profile = {"displayname": "A", "avatar_url": "mxc://a/b", "m.tz": "UTC", "com.example.x": 1}
    assert member_event_fields(profile) == {"displayname": "A", "avatar_url": "mxc://a/b"}
    assert member_event_fields({"com.example.x": 1}) == {}
