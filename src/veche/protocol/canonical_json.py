"""Canonical JSON (spec: appendices.md, "Canonical JSON") and parsing of untrusted JSON.

orjson does the work: with sorted keys and no options it already writes the shortest form
the spec's grammar allows (same escapes as the stdlib encoder with ensure_ascii=False, which
tests/protocol/test_canonical_json.py checks byte for byte). What orjson does not do is
enforce the spec's number rules, so a walk over the value checks them first.

Room versions 1–5 do not enforce those rules, and events in such rooms may carry floats or
integers beyond 2**53 (rooms/fragments/v1-canonical-json.md, v1-floaty-power-levels.md).
`strict=False` encodes those the way the rest of the federation (Synapse, through the
`canonicaljson` package and the stdlib encoder) does, so hashes and signatures still match.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

MAX_SAFE_INTEGER = 2**53 - 1
MIN_SAFE_INTEGER = -(2**53) + 1


class CanonicalJsonError(ValueError):
    """The value cannot be written (or was not written) as canonical JSON."""


_legacy_encoder = json.JSONEncoder(
    ensure_ascii=False,
    allow_nan=False,
    separators=(",", ":"),
    sort_keys=True,
)


def encode_canonical_json(obj: Any, *, strict: bool = True) -> bytes:
    """Encode `obj` as canonical JSON bytes.

    Strict (the default, and the rule for room versions 6+): integers must lie in
    [-(2**53)+1, 2**53-1]; a float is accepted only when its value is such an integer
    (the appendix turns `1e10` into `10000000000`) and is written as that integer.
    Non-strict: any integer and any finite float, written as the stdlib encoder does.
    Keys must be strings; NaN and infinities are always rejected.
    """
    plan = _inspect(obj, strict)
    if plan is _Plan.INTEGRAL_FLOATS:
        obj = _floats_to_ints(obj)
    elif plan is _Plan.STDLIB:
        try:
            return _legacy_encoder.encode(obj).encode("utf-8")
        except UnicodeEncodeError as e:
            raise CanonicalJsonError(str(e)) from None
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as e:
        # _inspect lets through lone surrogates and exotic subclasses, which orjson refuses.
        raise CanonicalJsonError(str(e)) from None


def validate_canonical_json(obj: Any) -> None:
    """Raise `CanonicalJsonError` unless `obj` obeys the number rules as received JSON.

    This is the check room versions 6+ apply to incoming events
    (rooms/fragments/v6-canonical-json.md): no floats at all, because a float means the
    sender wrote a fraction or an exponent, which the canonical grammar forbids.
    """
    stack = [obj]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is float:
            raise CanonicalJsonError(f"float {value!r} is not allowed in canonical JSON")
        elif kind is int and not MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalJsonError(f"integer {value} is outside the canonical JSON range")


def decode_json(data: bytes | str, *, strict: bool = True) -> Any:
    """Parse JSON received from an untrusted party.

    Rejects malformed JSON, NaN and infinities, and strings with lone surrogates. Strict
    (the default) also rejects integers outside the canonical JSON range; non-strict keeps
    every integer exact (for events of room versions 1–5). Floats are returned as floats:
    whether they are allowed depends on where the JSON came from (see
    `validate_canonical_json`). Duplicate keys are not detected: orjson keeps the last one
    and finding them would need a second, slow parse of every document.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise CanonicalJsonError(f"invalid JSON: {e}") from None
    if _contains_float(value):
        # orjson turns integers beyond 64 bits into floats; the stdlib parser keeps them
        # exact. The text already passed orjson, so this parse cannot meet NaN or
        # surrogates, only the numbers it must get right, but it recurses: orjson's depth
        # limit is above Python's recursion limit.
        try:
            value = json.loads(data, parse_constant=_reject_constant)
        except RecursionError:
            raise CanonicalJsonError("invalid JSON: nested too deeply") from None
    if strict:
        _check_int_range(value)
    return value


class _Plan:
    ORJSON = "orjson"
    INTEGRAL_FLOATS = "integral-floats"
    STDLIB = "stdlib"


def _inspect(obj: Any, strict: bool) -> str:
    """Check the numbers; say which encoder can write `obj` canonically.

    Object keys are left to the encoders: orjson refuses non-string keys itself, and the
    rare stdlib path checks them in `_check_keys`.
    """
    plan = _inspect_value(obj, strict, _Plan.ORJSON)
    # Only containers go on the stack; strings, the bulk of any event, are skipped inline.
    stack = [obj] if _json_kind(obj) in (dict, list) else []
    while stack:
        container = stack.pop()
        for value in container.values() if isinstance(container, dict) else container:
            kind = type(value)
            if kind is str:
                continue
            if kind is dict or kind is list:
                stack.append(value)
            elif kind is int and MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                continue
            else:
                plan = _inspect_value(value, strict, plan)
                if _json_kind(value) in (dict, list):
                    stack.append(value)
    if plan is _Plan.STDLIB:
        _check_keys(obj)
    return plan


def _inspect_value(value: Any, strict: bool, plan: str) -> str:
    kind = _json_kind(value)
    if kind is int:
        if not MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            if strict:
                raise CanonicalJsonError(f"integer {value} is outside the canonical JSON range")
            return _Plan.STDLIB
    elif kind is float:
        if not math.isfinite(value):
            raise CanonicalJsonError(f"{value!r} is not valid JSON")
        if not strict:
            return _Plan.STDLIB
        if not (value.is_integer() and MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER):
            raise CanonicalJsonError(f"float {value!r} is not allowed in canonical JSON")
        if plan is _Plan.ORJSON:
            return _Plan.INTEGRAL_FLOATS
    elif kind is object:
        raise CanonicalJsonError(f"{type(value).__name__} is not a JSON type")
    return plan


def _check_keys(obj: Any) -> None:
    kind = _json_kind(obj)
    if kind is dict:
        for key, value in obj.items():
            if type(key) is not str:
                raise CanonicalJsonError(f"object key {key!r} is not a string")
            _check_keys(value)
    elif kind is list:
        for value in obj:
            _check_keys(value)


_KINDS = (str, bool, int, float, dict, list)


def _json_kind(value: Any) -> type | None:
    """The JSON type `value` stands for; subclasses (str enums, int enums) count too."""
    kind = type(value)
    if kind in _KINDS or value is None:
        return None if value is None else kind
    if kind is tuple:
        return list
    for base in _KINDS:
        if isinstance(value, base):
            return base
    return object


def _floats_to_ints(value: Any) -> Any:
    kind = _json_kind(value)
    if kind is float:
        return int(value)
    if kind is dict:
        return {k: _floats_to_ints(v) for k, v in value.items()}
    if kind is list:
        return [_floats_to_ints(v) for v in value]
    return value


def _contains_float(obj: Any) -> bool:
    stack = [obj]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is float:
            return True
    return False


def _check_int_range(obj: Any) -> None:
    stack = [obj]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is int and not MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalJsonError(f"integer {value} is outside the canonical JSON range")


def _reject_constant(name: str) -> Any:
    raise CanonicalJsonError(f"{name} is not valid JSON")
