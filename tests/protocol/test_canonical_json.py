import json

import canonicaljson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veche.protocol.canonical_json import (
    MAX_SAFE_INTEGER,
    MIN_SAFE_INTEGER,
    CanonicalJsonError,
    decode_json,
    encode_canonical_json,
    validate_canonical_json,
)

# The examples of appendices.md, "Canonical JSON" → "Examples", input text and output.
SPEC_EXAMPLES = [
    ("{}", "{}"),
    ('{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'),
    ('{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'),
    ('{"b":"2","a":"1"}', '{"a":"1","b":"2"}'),
    (
        """{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}""",
        '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
        '"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
        '{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ),
    ('{\n    "a": "日本語"\n}', '{"a":"日本語"}'),
    ('{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'),
    ('{\n    "a": "\\u65E5"\n}', '{"a":"日"}'),
    ('{\n    "a": null\n}', '{"a":null}'),
    ('{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'),
]


@pytest.mark.parametrize(("given_json", "expected"), SPEC_EXAMPLES)
def test_spec_examples(given_json, expected):
    assert encode_canonical_json(decode_json(given_json)) == expected.encode("utf-8")


def test_escapes_follow_the_grammar():
    # Dedicated escapes where the grammar has them, lowercase \u00XX otherwise, nothing
    # else escaped (DEL, U+2028/2029, astral characters go out raw as UTF-8).
    text = "".join(chr(c) for c in range(0x20)) + '"\\/\x7f\u2028\u2029\U0001f600'
    out = encode_canonical_json(text)
    assert out == (
        b'"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        b"\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
        b'\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\/\x7f'
        + "\u2028\u2029\U0001f600".encode()
        + b'"'
    )


def test_keys_sort_by_code_point():
    obj = {"\U0001f600": 1, "\uffff": 2, "a": 3, "B": 4, "é": 5}
    assert encode_canonical_json(obj) == canonicaljson.encode_canonical_json(obj)


@pytest.mark.parametrize("value", [MAX_SAFE_INTEGER, MIN_SAFE_INTEGER, 0, -1])
def test_integer_range_edges_are_allowed(value):
    assert encode_canonical_json({"n": value}) == b'{"n":%d}' % value


@pytest.mark.parametrize(
    "value", [MAX_SAFE_INTEGER + 1, MIN_SAFE_INTEGER - 1, 2**64, -(2**70)]
)
def test_integers_outside_range_are_rejected(value):
    with pytest.raises(CanonicalJsonError, match="outside"):
        encode_canonical_json({"n": value})


@pytest.mark.parametrize("value", [0.5, 1e300, float("nan"), float("inf"), -float("inf")])
def test_non_integral_floats_are_rejected(value):
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json([value])


@pytest.mark.parametrize("value", [{1: "a"}, {None: 1}, {b"k": 1}, b"bytes", {1, 2}, object()])
def test_non_json_values_are_rejected(value):
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json(value)


def test_lone_surrogates_are_rejected():
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json({"a": "\ud800"})
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json({"a": "\ud800"}, strict=False)


def test_tuples_are_arrays():
    assert encode_canonical_json({"a": (1, [2, (3,)])}) == b'{"a":[1,[2,[3]]]}'


def test_non_strict_writes_legacy_numbers_like_the_federation():
    # Room versions 1-5 may carry floats and big integers (v1-floaty-power-levels.md).
    obj = {"users": {"@bob:localhost": 50.57, "@a:b": 2**70, "@c:d": 100.0}, "x": 1e16}
    assert encode_canonical_json(obj, strict=False) == canonicaljson.encode_canonical_json(obj)
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json({"a": float("nan")}, strict=False)


def test_validate_rejects_floats_and_big_ints():
    validate_canonical_json({"a": [1, {"b": MAX_SAFE_INTEGER}], "c": "1.5"})
    with pytest.raises(CanonicalJsonError, match="float"):
        validate_canonical_json({"a": [1, {"b": 1.0}]})
    with pytest.raises(CanonicalJsonError, match="outside"):
        validate_canonical_json({"a": [MAX_SAFE_INTEGER + 1]})


@pytest.mark.parametrize(
    "text",
    [
        b"NaN",
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": "\\ud800"}',
        b"{'a': 1}",
        b'{"a": 1',
        b'{"a": 1}x',
        b"\xff",
    ],
)
def test_decode_rejects_invalid_json(text):
    with pytest.raises(CanonicalJsonError):
        decode_json(text)


def test_decode_int_range_strict_and_not():
    big = b'{"a": 18446744073709551616, "b": [-9223372036854775809], "c": 1.5}'
    with pytest.raises(CanonicalJsonError, match="outside"):
        decode_json(big)
    with pytest.raises(CanonicalJsonError, match="outside"):
        decode_json(b'{"a": 9007199254740992}')
    assert decode_json(big, strict=False) == {
        "a": 2**64,
        "b": [-(2**63) - 1],
        "c": 1.5,
    }
    assert decode_json('{"a": 9007199254740991}') == {"a": MAX_SAFE_INTEGER}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=MIN_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_matches_the_canonicaljson_package(value):
    assert encode_canonical_json(value) == canonicaljson.encode_canonical_json(value)


@given(json_values)
def test_decode_round_trips(value):
    encoded = encode_canonical_json(value)
    assert decode_json(encoded) == value
    assert encode_canonical_json(decode_json(json.dumps(value, indent=2))) == encoded


legacy_values = st.recursive(
    st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(legacy_values)
def test_non_strict_matches_the_canonicaljson_package(value):
    assert encode_canonical_json(value, strict=False) == canonicaljson.encode_canonical_json(value)


def test_subclasses_of_json_types_are_encoded_as_their_base():
    import collections
    import enum

    class Membership(enum.StrEnum):
        JOIN = "join"

    class Level(enum.IntEnum):
        ADMIN = 100

    obj = collections.OrderedDict(b=(Membership.JOIN, Level.ADMIN), a={"x": 2.0})
    assert encode_canonical_json(obj) == b'{"a":{"x":2},"b":["join",100]}'
    assert encode_canonical_json((1, collections.OrderedDict(z=1.0))) == b'[1,{"z":1}]'
    with pytest.raises(CanonicalJsonError):
        encode_canonical_json(collections.OrderedDict(a=[0.5]))
    with pytest.raises(CanonicalJsonError, match="key"):
        encode_canonical_json({"a": {1: 2}, "b": 2**60}, strict=False)
