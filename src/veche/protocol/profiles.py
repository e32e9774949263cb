"""Profile fields: which keys exist, what values they take, how big a profile may be
(client-server-api/_index.md "Profiles"; data/api/client-server/profile.yaml)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from veche.protocol.canonical_json import encode_canonical_json
from veche.protocol.identifiers import is_valid_server_name

DISPLAYNAME = "displayname"
AVATAR_URL = "avatar_url"
TIMEZONE = "m.tz"
# The fields copied into m.room.member events ("Events on Change of Profile Information").
MEMBER_EVENT_FIELDS = (DISPLAYNAME, AVATAR_URL)

# profile.yaml: "the total profile MUST be under 64 KiB"; keys are at most 255 bytes.
MAX_PROFILE_BYTES = 64 * 1024
MAX_KEY_BYTES = 255
# The spec leaves per-field limits to servers; Synapse's 256 keeps member events small.
MAX_DISPLAYNAME_LENGTH = 256

# profile.yaml's keyName pattern. Custom keys follow the Common Namespaced Identifier
# Grammar (appendices.md), where `m.` is reserved for the spec: m.tz is the only one it
# defines, so any other `m.` key is not a valid custom field.
_KEY = re.compile(r"avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_MEDIA_ID = re.compile(r"[A-Za-z0-9_\-]+")


class InvalidProfileField(ValueError):
    """The key or value is not acceptable; `errcode` is the spec's code for why."""

    def __init__(self, errcode: str, message: str) -> None:
        super().__init__(message)
        self.errcode = errcode


def check_key(key: str) -> None:
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidProfileField("M_KEY_TOO_LARGE", f"Profile keys are at most {MAX_KEY_BYTES} bytes")
    if not _KEY.fullmatch(key) or (key.startswith("m.") and key != TIMEZONE):
        raise InvalidProfileField("M_INVALID_PARAM", f"Invalid profile key {key!r}")


def is_mxc_uri(value: str) -> bool:
    """`mxc://<server-name>/<media-id>` (client-server-api/_index.md "Matrix Content (mxc://) URIs")."""
    if not value.startswith("mxc://"):
        return False
    server_name, slash, media_id = value[len("mxc://") :].partition("/")
    return bool(slash) and is_valid_server_name(server_name) and bool(_MEDIA_ID.fullmatch(media_id))


def normalize_value(key: str, value: Any) -> Any:
    """The value to store for `key` (see `clears_field`), or InvalidProfileField.

    Custom fields take any JSON value, null included (profile.yaml asks servers that accept
    null to store it rather than treat it as a deletion).
    """
    if key == DISPLAYNAME:
        if not isinstance(value, str):
            raise InvalidProfileField("M_BAD_JSON", "displayname must be a string")
        if len(value) > MAX_DISPLAYNAME_LENGTH:
            raise InvalidProfileField(
                "M_INVALID_PARAM", f"displayname is longer than {MAX_DISPLAYNAME_LENGTH} characters"
            )
        if "\x00" in value:
            # The user directory indexes it as text, which PostgreSQL cannot hold with NUL.
            raise InvalidProfileField("M_INVALID_PARAM", "displayname holds NUL")
        return value
    if key == AVATAR_URL:
        if not isinstance(value, str):
            raise InvalidProfileField("M_BAD_JSON", "avatar_url must be a string")
        if value and not is_mxc_uri(value):
            raise InvalidProfileField("M_INVALID_PARAM", "avatar_url must be an mxc:// URI")
        return value
    if key == TIMEZONE and not isinstance(value, str):
        raise InvalidProfileField("M_BAD_JSON", "m.tz must be a string")
    return value


def clears_field(key: str, value: Any) -> bool:
    """An empty displayname or avatar_url removes it, as clients have long done."""
    return key in MEMBER_EVENT_FIELDS and value == ""


def check_profile_size(profile: Mapping[str, Any]) -> None:
    if len(encode_canonical_json(dict(profile), strict=False)) >= MAX_PROFILE_BYTES:
        raise InvalidProfileField("M_PROFILE_TOO_LARGE", "The profile would exceed 64 KiB")


def member_event_fields(profile: Mapping[str, Any]) -> dict[str, str]:
    """The displayname and avatar_url a member event carries for this profile."""
    return {key: profile[key] for key in MEMBER_EVENT_FIELDS if isinstance(profile.get(key), str)}
