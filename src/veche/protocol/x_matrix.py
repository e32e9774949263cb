"""Federation request authentication: the `X-Matrix` Authorization header and the signed
request object (server-server-api.md, "Request Authentication").

A request is authenticated by signing, with the origin's server key, the JSON object

    {"method": …, "uri": …, "origin": …, "destination": …, "content": <body, if any>}

and sending the signature in `Authorization: X-Matrix origin="…",destination="…",key="…",
sig="…"`. `uri` is the request target exactly as sent (path and query string, still
percent-encoded), and the server names are those before any delegation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nacl.signing import VerifyKey

from veche.protocol.signing import SigningKey, sign_json, verify_signed_json

SCHEME = "X-Matrix"

# RFC 9110 token characters; a value made only of these may go unquoted.
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SPACE = " \t"


class InvalidAuthHeader(ValueError):
    """An Authorization header that is not a well-formed X-Matrix header."""


@dataclass(frozen=True, slots=True)
class XMatrixAuth:
    origin: str
    # Optional on receipt: servers older than Matrix 1.3 do not send it.
    destination: str | None
    key: str
    sig: str


def parse_x_matrix(header: str) -> XMatrixAuth:
    """Parse one Authorization header value with the X-Matrix scheme.

    Follows RFC 9110 section 11.4 as the spec asks: case-insensitive names in any order,
    quoted or bare values, backslash escapes, spaces around commas; unknown parameters
    are ignored. Bare values may hold colons (and, leniently, any character but a comma,
    a quote or whitespace), for older senders.
    """
    scheme, _, rest = header.strip(_SPACE).partition(" ")
    if scheme.lower() != SCHEME.lower():
        raise InvalidAuthHeader("not an X-Matrix Authorization header")
    params = _parse_params(rest)
    missing = [name for name in ("origin", "key", "sig") if not params.get(name)]
    if missing:
        raise InvalidAuthHeader(f"X-Matrix header lacks {', '.join(missing)}")
    return XMatrixAuth(
        origin=params["origin"],
        destination=params.get("destination"),
        key=params["key"],
        sig=params["sig"],
    )


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while True:
        i = _skip(text, i, _SPACE + ",")
        if i >= n:
            return params
        start = i
        while i < n and text[i] in _TCHARS:
            i += 1
        name = text[start:i].lower()
        if not name:
            raise InvalidAuthHeader(f"X-Matrix header: expected a parameter name at {start}")
        i = _skip(text, i, _SPACE)
        if i >= n or text[i] != "=":
            raise InvalidAuthHeader(f"X-Matrix header: parameter {name!r} has no value")
        i = _skip(text, i + 1, _SPACE)
        value, i = _read_value(text, i)
        if name in params:
            raise InvalidAuthHeader(f"X-Matrix header: parameter {name!r} given twice")
        params[name] = value
        i = _skip(text, i, _SPACE)
        if i < n and text[i] != ",":
            raise InvalidAuthHeader(f"X-Matrix header: expected a comma at {i}")


def _read_value(text: str, i: int) -> tuple[str, int]:
    n = len(text)
    if i < n and text[i] == '"':
        chars: list[str] = []
        i += 1
        while i < n and text[i] != '"':
            if text[i] == "\\":
                i += 1
                if i >= n:
                    break
            chars.append(text[i])
            i += 1
        if i >= n:
            raise InvalidAuthHeader("X-Matrix header: unterminated quoted value")
        return "".join(chars), i + 1
    start = i
    while i < n and text[i] not in _SPACE + ',"':
        i += 1
    return text[start:i], i


def _skip(text: str, i: int, chars: str) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def format_x_matrix(auth: XMatrixAuth) -> str:
    """The header value, written the way the spec asks senders to for older servers:
    one space after the scheme, lower-case names, quoted values, no spaces around commas."""
    params = [("origin", auth.origin)]
    if auth.destination is not None:
        params.append(("destination", auth.destination))
    params += [("key", auth.key), ("sig", auth.sig)]
    return SCHEME + " " + ",".join(f'{name}="{_quote(value)}"' for name, value in params)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def request_object(
    method: str, uri: str, origin: str, destination: str, content: Any = None
) -> dict[str, Any]:
    """The JSON object a request signature covers; `content` is omitted when None."""
    obj: dict[str, Any] = {
        "method": method,
        "uri": uri,
        "origin": origin,
        "destination": destination,
    }
    if content is not None:
        obj["content"] = content
    return obj


def sign_request(
    key: SigningKey, method: str, uri: str, origin: str, destination: str, content: Any = None
) -> str:
    """The Authorization header value for a request from `origin` to `destination`."""
    # Non-strict: a body may carry events of room versions 1-5 with their looser numbers.
    obj = request_object(method, uri, origin, destination, content)
    signed = sign_json(obj, origin, key, strict=False)
    return format_x_matrix(
        XMatrixAuth(origin, destination, key.key_id, signed["signatures"][origin][key.key_id])
    )


def verify_request(
    auth: XMatrixAuth,
    method: str,
    uri: str,
    destination: str,
    content: Any,
    verify_key: VerifyKey,
) -> None:
    """Raise `SignatureError` unless `auth.sig` signs this request with `verify_key`.

    `destination` is the receiving server's own name: the signature covers the name the
    sender addressed, which must be ours whether or not the header repeated it.
    """
    obj = request_object(method, uri, auth.origin, destination, content)
    obj["signatures"] = {auth.origin: {auth.key: auth.sig}}
    verify_signed_json(obj, auth.origin, auth.key, verify_key, strict=False)
