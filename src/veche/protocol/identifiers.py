"""Matrix identifiers (spec: appendices.md, "Identifier Grammar").

User IDs, room aliases and domain-carrying room and event IDs are split at the FIRST
colon: the localpart can hold no colon, while the server name may end in a port
(`@alice:127.0.0.1:8448`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from veche.protocol.room_versions import EventFormat, RoomVersion

# User IDs, room IDs, room aliases and event IDs share this limit, sigil and domain included.
MAX_IDENTIFIER_BYTES = 255
# dns-name = 1*255dns-char
_MAX_DNS_NAME = 255

_LOCALPART = re.compile(r"[a-z0-9._=\-/+]+")
_PORT = re.compile(r"[0-9]{1,5}")
_IPV4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_DNS_NAME = re.compile(r"[0-9A-Za-z\-.]+")
# A reference hash (SHA-256, 32 bytes) is 43 characters of unpadded base64.
_STANDARD_HASH_ID = re.compile(r"[A-Za-z0-9+/]{43}")
_URLSAFE_HASH_ID = re.compile(r"[A-Za-z0-9\-_]{43}")


class InvalidIdentifier(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class UserID:
    localpart: str
    server_name: str

    def __str__(self) -> str:
        return f"@{self.localpart}:{self.server_name}"


@dataclass(frozen=True, slots=True)
class RoomAlias:
    localpart: str
    server_name: str

    def __str__(self) -> str:
        return f"#{self.localpart}:{self.server_name}"


def parse_server_name(s: str) -> tuple[str, int | None]:
    """Split a server name into (hostname, port or None).

    An IPv6 hostname is returned with its brackets, as it appears in the server name.
    """
    if not isinstance(s, str) or not s:
        raise InvalidIdentifier("server name is empty")
    if s.startswith("["):
        close = s.find("]")
        if close == -1:
            raise InvalidIdentifier(f"server name {s!r}: unterminated IPv6 literal")
        host, rest = s[: close + 1], s[close + 1 :]
        _check_ipv6(s, host[1:-1])
    else:
        host, colon, port_text = s.partition(":")
        rest = colon + port_text
        _check_host(s, host)
    if not rest:
        return host, None
    if rest[0] != ":":
        raise InvalidIdentifier(f"server name {s!r}: unexpected {rest!r} after the host")
    return host, _parse_port(s, rest[1:])


def is_valid_server_name(s: str) -> bool:
    try:
        parse_server_name(s)
    except InvalidIdentifier:
        return False
    return True


def is_valid_localpart(s: str) -> bool:
    """The user ID localpart grammar that new users must follow."""
    return bool(_LOCALPART.fullmatch(s))


def is_historical_localpart(s: str) -> bool:
    """The localparts that existing user IDs may still have: anything but `:` and NUL.

    Empty localparts and control characters included ("Historical User IDs"); the current
    grammar is a subset.
    """
    return ":" not in s and "\x00" not in s and not _has_surrogate(s)


def parse_user_id(s: str, *, historical: bool = True) -> UserID:
    """Parse `@localpart:server_name`.

    Historical localparts are accepted by default, because events from such users must
    still be accepted over federation; pass `historical=False` for new identifiers.
    """
    localpart, server_name = _split(s, "@", "user ID")
    if historical:
        if "\x00" in localpart:
            raise InvalidIdentifier(f"user ID {s!r}: localpart holds NUL")
    elif not is_valid_localpart(localpart):
        raise InvalidIdentifier(
            f"user ID {s!r}: localpart must be non-empty and only hold a-z 0-9 . _ = - / +"
        )
    return UserID(localpart, server_name)


def is_valid_user_id(s: str, *, historical: bool = True) -> bool:
    try:
        parse_user_id(s, historical=historical)
    except InvalidIdentifier:
        return False
    return True


def parse_room_alias(s: str) -> RoomAlias:
    localpart, server_name = _split(s, "#", "room alias")
    if not localpart:
        raise InvalidIdentifier(f"room alias {s!r}: localpart is empty")
    if "\x00" in localpart:
        raise InvalidIdentifier(f"room alias {s!r}: localpart holds NUL")
    return RoomAlias(localpart, server_name)


def validate_room_id(s: str) -> None:
    """Accept `!opaque:server_name` (room versions 1–11) or `!<hash>` (room version 12)."""
    _check_sigil_and_length(s, "!", "room ID")
    if ":" not in s:
        # v12: the create event's ID with `!` for `$` (appendices.md, "Room IDs").
        if not _URLSAFE_HASH_ID.fullmatch(s[1:]):
            raise InvalidIdentifier(
                f"room ID {s!r}: without a server name it must be 43 URL-safe base64 characters"
            )
        return
    localpart, server_name = _split(s, "!", "room ID")
    if not localpart:
        raise InvalidIdentifier(f"room ID {s!r}: opaque part is empty")
    if "\x00" in localpart:
        raise InvalidIdentifier(f"room ID {s!r}: opaque part holds NUL")


def validate_event_id(s: str, room_version: RoomVersion | None = None) -> None:
    """Accept `$opaque:server_name` (room versions 1–2) or `$<hash>` (3 and later).

    Without a room version any of the formats is accepted.
    """
    _check_sigil_and_length(s, "$", "event ID")
    event_format = room_version.event_format if room_version is not None else None
    if event_format is EventFormat.V1 or (event_format is None and ":" in s):
        localpart, _ = _split(s, "$", "event ID")
        if not localpart:
            raise InvalidIdentifier(f"event ID {s!r}: opaque part is empty")
        return
    body = s[1:]
    if event_format is EventFormat.V3:
        ok = bool(_STANDARD_HASH_ID.fullmatch(body))
    elif event_format is EventFormat.V4:
        ok = bool(_URLSAFE_HASH_ID.fullmatch(body))
    else:
        ok = bool(_STANDARD_HASH_ID.fullmatch(body) or _URLSAFE_HASH_ID.fullmatch(body))
    if not ok:
        raise InvalidIdentifier(f"event ID {s!r}: expected a 43-character base64 reference hash")


def _split(s: str, sigil: str, what: str) -> tuple[str, str]:
    _check_sigil_and_length(s, sigil, what)
    localpart, colon, server_name = s[1:].partition(":")
    if not colon:
        raise InvalidIdentifier(f"{what} {s!r}: missing ':server_name'")
    try:
        parse_server_name(server_name)
    except InvalidIdentifier as e:
        raise InvalidIdentifier(f"{what} {s!r}: {e}") from None
    return localpart, server_name


def _check_sigil_and_length(s: str, sigil: str, what: str) -> None:
    if not isinstance(s, str) or not s.startswith(sigil):
        raise InvalidIdentifier(f"{what} {s!r} must start with {sigil!r}")
    try:
        size = len(s.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidIdentifier(f"{what} {s!r}: holds a lone surrogate") from None
    if size > MAX_IDENTIFIER_BYTES:
        raise InvalidIdentifier(f"{what} is longer than {MAX_IDENTIFIER_BYTES} bytes")


def _check_host(server_name: str, host: str) -> None:
    if not host:
        raise InvalidIdentifier(f"server name {server_name!r}: hostname is empty")
    if _IPV4.fullmatch(host):
        # Four dotted numbers also match dns-name; the spec wants them read as IPv4.
        if any(int(part) > 255 for part in host.split(".")):
            raise InvalidIdentifier(f"server name {server_name!r}: IPv4 part above 255")
        return
    if len(host) > _MAX_DNS_NAME or not _DNS_NAME.fullmatch(host):
        raise InvalidIdentifier(
            f"server name {server_name!r}: hostname must be a DNS name (letters, digits, "
            "'-', '.'), an IPv4 address or a bracketed IPv6 address"
        )


def _check_ipv6(server_name: str, literal: str) -> None:
    if not _IPV6_CHARS.fullmatch(literal):
        raise InvalidIdentifier(f"server name {server_name!r}: invalid IPv6 literal")
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        raise InvalidIdentifier(f"server name {server_name!r}: invalid IPv6 literal") from None


def _parse_port(server_name: str, text: str) -> int:
    if not _PORT.fullmatch(text) or int(text) > 65535:
        raise InvalidIdentifier(f"server name {server_name!r}: port must be 0-65535")
    return int(text)


def _has_surrogate(s: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in s)
