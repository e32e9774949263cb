"""The authorisation rules of every room version.

Sources: rooms/fragments/v1-auth-rules.md (v1, v2), v3-auth-rules.md (v3–v5), the rules
written out in rooms/v6.md and v7.md, v8-auth-rules.md (v8, v9), and rooms/v10.md, v11.md,
v12.md; "Auth events selection" in server-server-api.md. Differences between versions are
decided by `RoomVersion` flags, never by the version's identifier.

The checks are split the way the spec's steps use them:

- `check_auth_event_list`: the rules about an event's own `auth_events` list (duplicates,
  selection, rejected entries, room IDs). Only meaningful for check 4 of "Checks performed
  on receipt of a PDU".
- `check_auth_rules`: every other rule, against a state map — the event's auth events
  (check 4), the state before it (check 5) or the current state (check 6, soft failure).

In room version 12 the create event is not among `auth_events`, but the rules still need
it: the state map given to `check_auth_rules` must contain the room's create event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from veche.protocol import signing
from veche.protocol.events import Event, StateKey
from veche.protocol.identifiers import is_valid_user_id
from veche.protocol.power_levels import (
    LEVEL_KEYS,
    InvalidPowerLevel,
    get_named_level,
    get_required_event_level,
    get_user_power_level,
    parse_power_level_value,
    room_creators,
)
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, AuthRules, EventFormat, RoomVersion

CREATE_KEY: StateKey = ("m.room.create", "")
POWER_LEVELS_KEY: StateKey = ("m.room.power_levels", "")
JOIN_RULES_KEY: StateKey = ("m.room.join_rules", "")


class AuthError(Exception):
    """The event is not allowed by the authorisation rules; `reason` says which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def auth_types_for_event(
    room_version: RoomVersion,
    event_type: str,
    state_key: str | None,
    sender: str,
    content: Mapping[str, Any],
) -> list[StateKey]:
    """The state keys whose current events form an event's `auth_events`.

    server-server-api.md "Auth events selection"; the create event is not selected in
    room versions where the room ID is derived from it.
    """
    if event_type == "m.room.create":
        return []
    selected: list[StateKey] = []
    if not room_version.room_id_from_create_event:
        selected.append(CREATE_KEY)
    selected += [POWER_LEVELS_KEY, ("m.room.member", sender)]
    if event_type == "m.room.member" and state_key is not None:
        selected.append(("m.room.member", state_key))
        membership = content.get("membership")
        if membership in ("join", "invite", "knock"):
            selected.append(JOIN_RULES_KEY)
        if membership == "invite":
            token = _third_party_invite_token(content)
            if token is not None:
                selected.append(("m.room.third_party_invite", token))
        if membership == "join" and room_version.restricted_join_rule:
            authoriser = content.get("join_authorised_via_users_server")
            if isinstance(authoriser, str):
                selected.append(("m.room.member", authoriser))
    return list(dict.fromkeys(selected))


def check_auth_event_list(event: Event, auth_events: Iterable[Event]) -> None:
    """The rules about the event's own `auth_events` list ("Considering the event's auth_events").

    `auth_events` are the events the PDU lists, already fetched. Raises `AuthError`.
    """
    if event.type == "m.room.create":
        return
    rv = event.room_version
    allowed = set(auth_types_for_event(rv, event.type, event.state_key, event.sender, event.content))
    seen: set[StateKey] = set()
    for auth_event in auth_events:
        if not auth_event.is_state:
            raise AuthError(f"auth event {auth_event.event_id} is not a state event")
        key = auth_event.state_tuple
        if key in seen:
            raise AuthError(f"duplicate auth events for {key}")
        seen.add(key)
        if key not in allowed:
            raise AuthError(f"auth event {auth_event.event_id} {key} is not one the event may cite")
        if auth_event.rejected_reason is not None:
            raise AuthError(f"auth event {auth_event.event_id} was rejected")
        if auth_event.room_id != event.room_id:
            raise AuthError(f"auth event {auth_event.event_id} belongs to another room")
    if not rv.room_id_from_create_event and CREATE_KEY not in seen:
        raise AuthError("no m.room.create event among the auth events")


def check_auth_rules(event: Event, auth_events: Mapping[StateKey, Event]) -> None:
    """Raise `AuthError` unless `event` is allowed given the room state `auth_events`."""
    rv = event.room_version
    if event.type == "m.room.create":
        _check_create(event)
        return

    create = _check_room(event, auth_events)

    if rv.special_case_aliases_auth and event.type == "m.room.aliases":
        if event.state_key is None:
            raise AuthError("m.room.aliases without a state key")
        if event.state_key != _domain(event.sender):
            raise AuthError("m.room.aliases state key is not the sender's server")
        return

    if event.type == "m.room.member":
        _check_membership(event, auth_events, create)
        return

    if _membership_of(event.sender, auth_events) != "join":
        raise AuthError(f"{event.sender} is not joined to the room")

    power_levels = auth_events.get(POWER_LEVELS_KEY)
    sender_level = get_user_power_level(event.sender, power_levels, create)

    if event.type == "m.room.third_party_invite":
        if sender_level < get_named_level("invite", power_levels):
            raise AuthError("sender may not invite")
        return

    required = get_required_event_level(event.type, event.is_state, power_levels)
    if required > sender_level:
        raise AuthError(f"sending {event.type} needs power level {required}, sender has {sender_level}")

    if event.state_key is not None and event.state_key.startswith("@") and event.state_key != event.sender:
        raise AuthError("state keys starting with @ are reserved for their user")

    if event.type == "m.room.power_levels":
        _check_power_levels(event, power_levels, create, sender_level)
        return

    if rv.auth_rules is AuthRules.V1 and event.type == "m.room.redaction":
        _check_v1_redaction(event, power_levels, sender_level)


def servers_required_to_sign(event: Event) -> frozenset[str]:
    """The servers whose signatures an event needs before the auth rules can pass.

    The sender's server always; in v1/v2 also the server of the event ID (v3-auth-rules.md);
    for a v8+ join authorised by another user, that user's server (rule 4.2 of
    v8-auth-rules.md). Verifying the signatures needs the servers' keys, so it is the
    signature-check step's job; `check_auth_rules` only checks that the signature is there.
    """
    servers = {_domain(event.sender)}
    if event.room_version.event_format is EventFormat.V1:
        servers.add(_domain(event.event_id))
    authoriser = _join_authoriser(event)
    if authoriser is not None:
        servers.add(_domain(authoriser))
    return frozenset(servers)


def _check_create(event: Event) -> None:
    rv = event.room_version
    if event.prev_event_ids:
        raise AuthError("m.room.create has prev_events")
    if rv.room_id_from_create_event:
        if "room_id" in event.pdu:
            raise AuthError("m.room.create has a room_id")
    elif _domain(event.room_id) != _domain(event.sender):
        raise AuthError("room ID's server is not the sender's")
    content = event.content
    if "room_version" in content and content["room_version"] not in KNOWN_ROOM_VERSIONS:
        raise AuthError(f"unknown room version {content['room_version']!r}")
    if not rv.implicit_room_creator and "creator" not in content:
        raise AuthError("m.room.create has no creator")
    if rv.privileged_creators and "additional_creators" in content:
        additional = content["additional_creators"]
        if not isinstance(additional, list) or not all(_is_valid_user_id(u) for u in additional):
            raise AuthError("additional_creators is not a list of valid user IDs")


def _check_room(event: Event, state: Mapping[StateKey, Event]) -> Event:
    """The rules tying the event to its room; returns the room's create event."""
    rv = event.room_version
    create = state.get(CREATE_KEY)
    if create is None:
        raise AuthError("no m.room.create event in the state")
    if rv.room_id_from_create_event:
        # v12: the room ID names the create event; it must be that event and not rejected.
        if event.room_id != "!" + create.event_id[1:]:
            raise AuthError("room ID is not the ID of the room's create event")
        if create.rejected_reason is not None:
            raise AuthError("the room's create event was rejected")
    # Only the entries the rules consult; the map may be a whole room state.
    for key in (CREATE_KEY, *auth_types_for_event(rv, event.type, event.state_key, event.sender, event.content)):
        state_event = state.get(key)
        if state_event is not None and state_event.room_id != event.room_id:
            raise AuthError(f"state event {state_event.event_id} belongs to another room")
    if create.content.get("m.federate") is False and _domain(event.sender) != _domain(create.sender):
        raise AuthError("room is not federated and the sender is on another server")
    return create


def _check_membership(event: Event, state: Mapping[StateKey, Event], create: Event) -> None:
    rv = event.room_version
    target = event.state_key
    membership = event.content.get("membership")
    if target is None or membership is None:
        raise AuthError("m.room.member needs a state key and a membership")

    if rv.restricted_join_rule and "join_authorised_via_users_server" in event.content:
        authoriser = _join_authoriser(event)
        if authoriser is None:
            raise AuthError("join_authorised_via_users_server is not a user ID")
        if not event.pdu.get("signatures", {}).get(_domain(authoriser)):
            raise AuthError(f"join is not signed by {_domain(authoriser)}, which authorised it")

    power_levels = state.get(POWER_LEVELS_KEY)
    sender_membership = _membership_of(event.sender, state)
    target_membership = _membership_of(target, state)
    sender_level = get_user_power_level(event.sender, power_levels, create)
    target_level = get_user_power_level(target, power_levels, create)

    if membership == "join":
        _check_join(event, state, create, target_membership)
    elif membership == "invite":
        _check_invite(event, state, sender_membership, target_membership, sender_level)
    elif membership == "leave":
        if event.sender == target:
            allowed = {"invite", "join", "knock"} if rv.knock_join_rule else {"invite", "join"}
            if target_membership not in allowed:
                raise AuthError(f"cannot leave from membership {target_membership}")
            return
        if sender_membership != "join":
            raise AuthError("sender is not joined")
        if target_membership == "ban" and sender_level < get_named_level("ban", power_levels):
            raise AuthError("sender may not unban")
        if sender_level < get_named_level("kick", power_levels) or target_level >= sender_level:
            raise AuthError("sender may not kick this user")
    elif membership == "ban":
        if sender_membership != "join":
            raise AuthError("sender is not joined")
        if sender_level < get_named_level("ban", power_levels) or target_level >= sender_level:
            raise AuthError("sender may not ban this user")
    elif membership == "knock" and rv.knock_join_rule:
        join_rule = _join_rule(state)
        knockable = {"knock", "knock_restricted"} if rv.knock_restricted_join_rule else {"knock"}
        if join_rule not in knockable:
            raise AuthError(f"cannot knock when the join rule is {join_rule}")
        if event.sender != target:
            raise AuthError("cannot knock on behalf of another user")
        if sender_membership in ("ban", "invite", "join"):
            raise AuthError(f"cannot knock from membership {sender_membership}")
    else:
        raise AuthError(f"unknown membership {membership!r}")


def _check_join(event: Event, state: Mapping[StateKey, Event], create: Event, membership: str) -> None:
    rv = event.room_version
    # The room's first join, by its creator, straight after the create event. v11+ name the
    # create event's sender; earlier versions `content.creator`.
    creator = create.sender if rv.implicit_room_creator else create.content.get("creator")
    if event.prev_event_ids == [create.event_id] and event.state_key == creator:
        return
    if event.sender != event.state_key:
        raise AuthError("cannot join on behalf of another user")
    if membership == "ban":
        raise AuthError("sender is banned")
    join_rule = _join_rule(state)
    if join_rule == "invite" or (join_rule == "knock" and rv.knock_join_rule):
        if membership in ("invite", "join"):
            return
        raise AuthError(f"join rule is {join_rule} and the user is not invited")
    if (join_rule == "restricted" and rv.restricted_join_rule) or (
        join_rule == "knock_restricted" and rv.knock_restricted_join_rule
    ):
        if membership in ("invite", "join"):
            return
        authoriser = _join_authoriser(event)
        if authoriser is None or _membership_of(authoriser, state) != "join":
            raise AuthError("restricted join not authorised by a joined member")
        power_levels = state.get(POWER_LEVELS_KEY)
        if get_user_power_level(authoriser, power_levels, create) < get_named_level("invite", power_levels):
            raise AuthError("restricted join authorised by a user who may not invite")
        return
    if join_rule == "public":
        return
    raise AuthError(f"cannot join a room whose join rule is {join_rule}")


def _check_invite(
    event: Event,
    state: Mapping[StateKey, Event],
    sender_membership: str,
    target_membership: str,
    sender_level: int | float,
) -> None:
    if "third_party_invite" in event.content:
        _check_third_party_invite(event, state, target_membership)
        return
    if sender_membership != "join":
        raise AuthError("sender is not joined")
    if target_membership in ("join", "ban"):
        raise AuthError(f"cannot invite a user whose membership is {target_membership}")
    if sender_level < get_named_level("invite", state.get(POWER_LEVELS_KEY)):
        raise AuthError("sender may not invite")


def _check_third_party_invite(event: Event, state: Mapping[StateKey, Event], target_membership: str) -> None:
    if target_membership == "ban":
        raise AuthError("cannot invite a banned user")
    third_party_invite = event.content["third_party_invite"]
    signed = third_party_invite.get("signed") if isinstance(third_party_invite, Mapping) else None
    if not isinstance(signed, dict):
        raise AuthError("third_party_invite has no signed object")
    mxid, token = signed.get("mxid"), signed.get("token")
    if not isinstance(mxid, str) or not isinstance(token, str):
        raise AuthError("third_party_invite.signed needs mxid and token")
    if mxid != event.state_key:
        raise AuthError("third_party_invite.signed.mxid is not the invited user")
    invite_event = state.get(("m.room.third_party_invite", token))
    if invite_event is None:
        raise AuthError("no m.room.third_party_invite for this token")
    if invite_event.sender != event.sender:
        raise AuthError("the third-party invite was sent by someone else")
    if not _signed_by_any(signed, _third_party_public_keys(invite_event.content)):
        raise AuthError("third_party_invite.signed is not signed by any of the invite's keys")


def _third_party_public_keys(content: Mapping[str, Any]) -> list[str]:
    keys = []
    if isinstance(content.get("public_key"), str):
        keys.append(content["public_key"])
    public_keys = content.get("public_keys")
    if isinstance(public_keys, list):
        keys += [
            entry["public_key"]
            for entry in public_keys
            if isinstance(entry, Mapping) and isinstance(entry.get("public_key"), str)
        ]
    return keys


def _signed_by_any(signed: dict[str, Any], public_keys: list[str]) -> bool:
    signatures = signed.get("signatures")
    if not isinstance(signatures, Mapping):
        return False
    for signer, by_key_id in signatures.items():
        if not isinstance(by_key_id, Mapping):
            continue
        for key_id in by_key_id:
            for public_key in public_keys:
                # Identity servers may publish keys in either base64 alphabet.
                standard = public_key.replace("-", "+").replace("_", "/")
                try:
                    verify_key = signing.decode_verify_key_base64(key_id, standard)
                    signing.verify_signed_json(signed, signer, key_id, verify_key)
                except (signing.InvalidKeyError, signing.SignatureError):
                    continue
                return True
    return False


def _check_power_levels(
    event: Event, current: Event | None, create: Event, sender_level: int | float
) -> None:
    rv = event.room_version
    new = event.content

    if rv.enforce_int_power_levels:
        for key in LEVEL_KEYS:
            if key in new and not _is_int(new[key]):
                raise AuthError(f"power level {key} is not an integer")
        for key in ("events", "notifications"):
            if key in new and not (
                isinstance(new[key], Mapping) and all(_is_int(v) for v in new[key].values())
            ):
                raise AuthError(f"power levels {key} is not an object of integers")

    # An absent `users` is an empty one, as Synapse reads it; the schema does not require it.
    users = new.get("users", {})
    if not isinstance(users, Mapping):
        raise AuthError("power levels users is not an object")
    for user_id, level in users.items():
        if not _is_valid_user_id(user_id):
            raise AuthError(f"power levels users has an invalid user ID {user_id!r}")
        _parse_level(level, rv, f"users.{user_id}")

    if rv.privileged_creators:
        listed = room_creators(create) & set(users)
        if listed:
            raise AuthError(f"room creators cannot be given a power level: {sorted(listed)}")

    if current is None:
        return
    old = current.content

    for key in LEVEL_KEYS:
        _check_level_change(key, old.get(key), new.get(key), rv, sender_level)

    nested = ["events", "notifications"] if rv.limit_notifications_power_levels else ["events"]
    for section in nested:
        old_map, new_map = _mapping(old.get(section)), _mapping(new.get(section))
        for key in old_map.keys() | new_map.keys():
            _check_level_change(f"{section}.{key}", old_map.get(key), new_map.get(key), rv, sender_level)

    old_users = _mapping(old.get("users"))
    for user_id in old_users.keys() | users.keys():
        name = f"users.{user_id}"
        old_value, new_value = old_users.get(user_id), users.get(user_id)
        if old_value == new_value:
            continue
        old_level = _parse_level(old_value, rv, name) if old_value is not None else None
        new_level = _parse_level(new_value, rv, name) if new_value is not None else None
        if old_level == new_level:
            continue
        if old_level is not None and user_id != event.sender and old_level >= sender_level:
            raise AuthError(f"cannot change the level of {user_id}, who is not below the sender")
        if new_level is not None and new_level > sender_level:
            raise AuthError(f"cannot raise {user_id} above the sender's own level")


def _check_level_change(name: str, old: Any, new: Any, rv: RoomVersion, sender_level: int | float) -> None:
    if old == new:
        return
    old_level = _parse_level(old, rv, name) if old is not None else None
    new_level = _parse_level(new, rv, name) if new is not None else None
    if old_level == new_level:
        return  # the same level spelt differently ("50" and 50) is no alteration
    if old_level is not None and old_level > sender_level:
        raise AuthError(f"cannot change {name}, which is above the sender's level")
    if new_level is not None and new_level > sender_level:
        raise AuthError(f"cannot set {name} above the sender's level")


def _check_v1_redaction(event: Event, power_levels: Event | None, sender_level: int | float) -> None:
    # v1-auth-rules.md rule 11: moderators may redact anything; others only events from
    # their own server, judged by the event IDs' domains.
    if sender_level >= get_named_level("redact", power_levels):
        return
    redacts = event.redacts
    if redacts is not None and _domain(redacts) == _domain(event.event_id):
        return
    raise AuthError("sender may not redact events from another server")


def _membership_of(user_id: str, state: Mapping[StateKey, Event]) -> str:
    member = state.get(("m.room.member", user_id))
    membership = member.content.get("membership") if member is not None else None
    return membership if isinstance(membership, str) else "leave"


def _join_rule(state: Mapping[StateKey, Event]) -> str:
    # No join rules event: the spec does not say; "invite" (as Synapse does) admits only
    # invited users, the conservative reading.
    event = state.get(JOIN_RULES_KEY)
    rule = event.content.get("join_rule") if event is not None else "invite"
    return rule if isinstance(rule, str) else "invite"


def _join_authoriser(event: Event) -> str | None:
    if not event.room_version.restricted_join_rule or event.type != "m.room.member":
        return None
    authoriser = event.content.get("join_authorised_via_users_server")
    return authoriser if isinstance(authoriser, str) and _is_valid_user_id(authoriser) else None


def _third_party_invite_token(content: Mapping[str, Any]) -> str | None:
    third_party_invite = content.get("third_party_invite")
    if not isinstance(third_party_invite, Mapping):
        return None
    signed = third_party_invite.get("signed")
    token = signed.get("token") if isinstance(signed, Mapping) else None
    return token if isinstance(token, str) else None


def _parse_level(value: Any, rv: RoomVersion, name: str) -> int:
    try:
        return parse_power_level_value(value, rv)
    except InvalidPowerLevel as e:
        raise AuthError(f"power level {name}: {e}") from None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_valid_user_id(value: Any) -> bool:
    # Historical localparts stay valid: rooms hold users created before the stricter grammar.
    return isinstance(value, str) and is_valid_user_id(value)


def _domain(identifier: str) -> str:
    # Identifiers split at the first colon; the server name may itself hold a port.
    return identifier.split(":", 1)[1] if ":" in identifier else ""
