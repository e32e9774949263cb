"""The room version table (spec: rooms/_index.md and rooms/v1.md … v12.md).

Every algorithm that differs between room versions asks the `RoomVersion` for the
property that decides it, never for the version's identifier.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EventFormat(enum.IntEnum):
    """How event IDs are made and how `prev_events`/`auth_events` are written."""

    V1 = 1  # v1, v2: `$localpart:server` IDs; prev/auth events as [id, {hashes}] pairs
    V3 = 3  # v3: ID is the reference hash in standard unpadded base64; plain ID lists
    V4 = 4  # v4+: ID is the reference hash in URL-safe unpadded base64


class StateResAlgorithm(enum.Enum):
    V1 = "v1"
    V2 = "v2"
    V2_1 = "v2.1"  # room version 12's iteration of state resolution v2


class RedactionAlgorithm(enum.IntEnum):
    """Which redaction fragment applies (rooms/fragments/v*-redactions.md)."""

    V1 = 1
    V6 = 6
    V8 = 8  # v8 has no fragment of its own: rooms/v8.md writes it out (join_rules keep `allow`)
    V9 = 9
    V11 = 11


class AuthRules(enum.IntEnum):
    """Which authorisation-rules family applies; finer differences are flags below."""

    V1 = 1  # rooms/fragments/v1-auth-rules.md (v1, v2)
    V3 = 3  # rooms/fragments/v3-auth-rules.md (v3 … v7, with flags)
    V8 = 8  # rooms/fragments/v8-auth-rules.md (v8 …, with flags)


@dataclass(frozen=True, slots=True)
class RoomVersion:
    identifier: str
    event_format: EventFormat
    state_res: StateResAlgorithm
    redaction: RedactionAlgorithm
    auth_rules: AuthRules
    # v3+: redactions are checked when served, not when received (v3-handling-redactions.md).
    deferred_redaction_checks: bool
    # v5+: signing keys must be valid at the event's origin_server_ts.
    enforce_key_validity: bool
    # v1–v5: m.room.aliases is authorised by its state_key's server (no power check).
    special_case_aliases_auth: bool
    # v6+: integers outside the canonical JSON range are rejected.
    strict_canonical_json: bool
    # v6+: power levels apply to the `notifications` key too.
    limit_notifications_power_levels: bool
    # v7+: the `knock` join rule and membership.
    knock_join_rule: bool
    # v8+: the `restricted` join rule.
    restricted_join_rule: bool
    # v10+: the `knock_restricted` join rule.
    knock_restricted_join_rule: bool
    # v10+: power level values must be integers, not strings.
    enforce_int_power_levels: bool
    # v11+: m.room.create has no `creator`; the sender is the creator.
    implicit_room_creator: bool
    # v11+: m.room.redaction carries `redacts` in its content.
    redacts_in_content: bool
    # v12+: the room ID is derived from the create event's reference hash; the create
    # event has no room_id and is not listed in auth_events.
    room_id_from_create_event: bool
    # v12+: creators (sender + additional_creators) have infinite power.
    privileged_creators: bool

    @property
    def supports_knocking(self) -> bool:
        return self.knock_join_rule


def _version(identifier: str, n: int) -> RoomVersion:
    if n <= 2:
        event_format = EventFormat.V1
    elif n == 3:
        event_format = EventFormat.V3
    else:
        event_format = EventFormat.V4
    if n == 1:
        state_res = StateResAlgorithm.V1
    elif n <= 11:
        state_res = StateResAlgorithm.V2
    else:
        state_res = StateResAlgorithm.V2_1
    if n <= 5:
        redaction = RedactionAlgorithm.V1
    elif n <= 7:
        redaction = RedactionAlgorithm.V6
    elif n == 8:
        redaction = RedactionAlgorithm.V8
    elif n <= 10:
        redaction = RedactionAlgorithm.V9
    else:
        redaction = RedactionAlgorithm.V11
    if n <= 2:
        auth_rules = AuthRules.V1
    elif n <= 7:
        auth_rules = AuthRules.V3
    else:
        auth_rules = AuthRules.V8
    return RoomVersion(
        identifier=identifier,
        event_format=event_format,
        state_res=state_res,
        redaction=redaction,
        auth_rules=auth_rules,
        deferred_redaction_checks=n >= 3,
        enforce_key_validity=n >= 5,
        special_case_aliases_auth=n <= 5,
        strict_canonical_json=n >= 6,
        limit_notifications_power_levels=n >= 6,
        knock_join_rule=n >= 7,
        restricted_join_rule=n >= 8,
        knock_restricted_join_rule=n >= 10,
        enforce_int_power_levels=n >= 10,
        implicit_room_creator=n >= 11,
        redacts_in_content=n >= 11,
        room_id_from_create_event=n >= 12,
        privileged_creators=n >= 12,
    )


KNOWN_ROOM_VERSIONS: dict[str, RoomVersion] = {str(n): _version(str(n), n) for n in range(1, 13)}

# The spec says servers SHOULD use room version 12 for new rooms (rooms/_index.md).
DEFAULT_ROOM_VERSION = "12"

# All stable; the table in rooms/_index.md lists no unstable versions.
STABLE_ROOM_VERSIONS: frozenset[str] = frozenset(KNOWN_ROOM_VERSIONS)


class UnsupportedRoomVersion(ValueError):
    pass


def get_room_version(identifier: str) -> RoomVersion:
    try:
        return KNOWN_ROOM_VERSIONS[identifier]
    except KeyError:
        raise UnsupportedRoomVersion(identifier) from None
