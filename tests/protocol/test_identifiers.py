import pytest
from hypothesis import given
from hypothesis import strategies as st

from veche.protocol.identifiers import (
    InvalidIdentifier,
    RoomAlias,
    UserID,
    is_historical_localpart,
    is_valid_localpart,
    is_valid_server_name,
    is_valid_user_id,
    parse_room_alias,
    parse_server_name,
    parse_user_id,
    validate_event_id,
    validate_room_id,
)
from veche.protocol.room_versions import get_room_version

HASH = "Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"  # rooms/fragments/v4-event-ids.md


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # appendices.md, "Server Name" examples.
        ("matrix.org", ("matrix.org", None)),
        ("matrix.org:8888", ("matrix.org", 8888)),
        ("1.2.3.4", ("1.2.3.4", None)),
        ("1.2.3.4:1234", ("1.2.3.4", 1234)),
        ("[1234:5678::abcd]", ("[1234:5678::abcd]", None)),
        ("[1234:5678::abcd]:5678", ("[1234:5678::abcd]", 5678)),
        ("localhost", ("localhost", None)),
        ("MATRIX.ORG", ("MATRIX.ORG", None)),
        ("[::1]:8448", ("[::1]", 8448)),
        ("[::ffff:1.2.3.4]", ("[::ffff:1.2.3.4]", None)),
        ("a-b.c", ("a-b.c", None)),
        ("x:65535", ("x", 65535)),
    ],
)
def test_valid_server_names(name, expected):
    assert parse_server_name(name) == expected
    assert is_valid_server_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        ":8448",
        "matrix.org:",
        "matrix.org:abc",
        "matrix.org:123456",
        "matrix.org:65536",
        "matrix.org:1:2",
        "matrix_org",
        "mätrix.org",
        "matrix.org/",
        "1.2.3.256",
        "[1234:5678::abcd",
        "[1234:5678::abcd]x",
        "[not-v6]",
        "[1::2::3]",
        "[fe80::1%eth0]",
        "1234:5678::abcd",
        "a" * 256,
        "matrix.org:+80",
        "matrix.org:٣",
    ],
)
def test_invalid_server_names(name):
    with pytest.raises(InvalidIdentifier):
        parse_server_name(name)
    assert not is_valid_server_name(name)


def test_user_id_splits_at_first_colon():
    assert parse_user_id("@alice:127.0.0.1:8448") == UserID("alice", "127.0.0.1:8448")
    assert parse_user_id("@alice:[::1]:8448") == UserID("alice", "[::1]:8448")
    assert str(UserID("alice", "example.org")) == "@alice:example.org"


@pytest.mark.parametrize("user_id", ["@a:b", "@a.b_c=d-e/f+g9:example.org", "@0:x"])
def test_current_user_ids(user_id):
    assert is_valid_user_id(user_id, historical=False)
    assert str(parse_user_id(user_id, historical=False)) == user_id


@pytest.mark.parametrize("user_id", ["@Alice:example.org", "@:example.org", "@al ice:x", "@ä:x", "@a\x01:x", "@a~:x"])
def test_historical_user_ids(user_id):
    # "Historical User IDs": anything but ':' and NUL, even empty, must still be accepted.
    assert is_valid_user_id(user_id)
    with pytest.raises(InvalidIdentifier):
        parse_user_id(user_id, historical=False)


@pytest.mark.parametrize(
    "user_id",
    ["alice:x", "@alice", "@alice:", "@alice:bad_host", "@a\x00b:x", "#a:x", "@a\ud800:x", "@" + "a" * 250 + ":xyz.org"],
)
def test_invalid_user_ids(user_id):
    with pytest.raises(InvalidIdentifier):
        parse_user_id(user_id)


def test_user_id_length_limit_counts_bytes():
    server = "example.org"
    fits = "@" + "a" * (255 - len(server) - 2) + ":" + server
    assert len(fits) == 255
    parse_user_id(fits)
    with pytest.raises(InvalidIdentifier, match="255 bytes"):
        parse_user_id("@" + "a" + fits[1:])
    # Multi-byte characters count as their UTF-8 length.
    with pytest.raises(InvalidIdentifier, match="255 bytes"):
        parse_user_id("@" + "é" * 125 + ":" + server)


def test_localpart_predicates():
    assert is_valid_localpart("abc.def_=-/+09")
    for bad in ["", "A", "a:b", "a b", "a#"]:
        assert not is_valid_localpart(bad)
    for ok in ["", "A", "a b", "\x01", "日本"]:
        assert is_historical_localpart(ok)
    for bad in ["a:b", "a\x00", "\ud800"]:
        assert not is_historical_localpart(bad)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._=-/+", min_size=1, max_size=50))
def test_current_grammar_is_a_subset_of_historical(localpart):
    assert is_valid_localpart(localpart) and is_historical_localpart(localpart)
    assert parse_user_id(f"@{localpart}:hs.example", historical=False).localpart == localpart


def test_room_alias():
    assert parse_room_alias("#room:example.org:8448") == RoomAlias("room", "example.org:8448")
    assert parse_room_alias("#Ünïcode room:x") == RoomAlias("Ünïcode room", "x")
    assert str(RoomAlias("a", "b")) == "#a:b"
    for bad in ["room:x", "#room", "#:x", "#a\x00:x", "#a:bad host", "#" + "a" * 255 + ":x"]:
        with pytest.raises(InvalidIdentifier):
            parse_room_alias(bad)


@pytest.mark.parametrize(
    "room_id", ["!jEsUZKDJdhlrceRyVU:example.org", "!a:1.2.3.4:80", "!" + HASH, "!ÄÖ:x"]
)
def test_valid_room_ids(room_id):
    validate_room_id(room_id)


@pytest.mark.parametrize(
    "room_id",
    [
        "jEsUZKDJdhlrceRyVU:example.org",
        "!:example.org",
        "!abc",
        "!" + HASH[:-1],
        "!" + HASH.replace("-", "+"),
        "!a:bad_host",
        "!a\x00:x",
        "!" + "a" * 254 + ":x",
    ],
)
def test_invalid_room_ids(room_id):
    with pytest.raises(InvalidIdentifier):
        validate_room_id(room_id)


def test_event_ids_per_room_version():
    v1, v3, v4 = (get_room_version(v) for v in ("1", "3", "4"))
    v3_id = "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk"  # rooms/v3.md
    validate_event_id("$randomstring:example.org", v1)
    validate_event_id(v3_id, v3)
    validate_event_id("$" + HASH, v4)
    validate_event_id("$" + HASH)
    validate_event_id(v3_id)
    validate_event_id("$x:example.org")
    for event_id, rv in [
        (v3_id, v1),
        ("$x:example.org", v3),
        (v3_id, v4),
        ("$" + HASH, v3),
        ("$:example.org", v1),
        ("$abc", None),
        ("x" + HASH, v4),
        ("$" + "a" * 255 + ":x", v1),
    ]:
        with pytest.raises(InvalidIdentifier):
            validate_event_id(event_id, rv)
