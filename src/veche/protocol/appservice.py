"""Application service registrations and the rules that follow from them
(application-service-api.md, "Registration" and "Pushing events").

A registration names the service's tokens, its own user (`sender_localpart`) and three
namespaces of regular expressions (users, aliases, rooms); a namespace marked `exclusive`
belongs to the service alone. An event is "interesting" to a service when its sender or
state key is in the users namespace, its room is in the rooms namespace, one of the room's
aliases is in the aliases namespace, or one of the service's users is a member of the room.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from veche.protocol.identifiers import is_valid_localpart

NAMESPACE_KINDS = ("users", "aliases", "rooms")
# The login and registration type an application service uses for the users it manages.
APPSERVICE_LOGIN = "m.login.application_service"


class InvalidRegistration(ValueError):
    """A registration that cannot be used; str(error) says which field and why."""


@dataclass(frozen=True, slots=True)
class Namespace:
    regex: re.Pattern[str]
    exclusive: bool


@dataclass(frozen=True, slots=True)
class Registration:
    id: str
    url: str | None
    as_token: str
    hs_token: str
    sender_localpart: str
    users: tuple[Namespace, ...] = ()
    aliases: tuple[Namespace, ...] = ()
    rooms: tuple[Namespace, ...] = ()
    rate_limited: bool = True
    protocols: tuple[str, ...] = ()
    receive_ephemeral: bool = False

    def sender(self, server_name: str) -> str:
        return f"@{self.sender_localpart}:{server_name}"

    def is_user_interesting(self, user_id: str, server_name: str) -> bool:
        """In the users namespace, or the service's own user."""
        return user_id == self.sender(server_name) or _matches(self.users, user_id)

    def is_alias_interesting(self, alias: str) -> bool:
        return _matches(self.aliases, alias)

    def is_room_interesting(self, room_id: str) -> bool:
        return _matches(self.rooms, room_id)

    def owns_user(self, user_id: str) -> bool:
        """In an exclusive users namespace of this service."""
        return _matches(self.users, user_id, exclusive_only=True)

    def owns_alias(self, alias: str) -> bool:
        return _matches(self.aliases, alias, exclusive_only=True)


def _matches(namespaces: Iterable[Namespace], value: str, *, exclusive_only: bool = False) -> bool:
    # The spec's regexes are matched against the whole identifier, as Synapse does.
    return any(
        (ns.exclusive or not exclusive_only) and ns.regex.fullmatch(value) is not None for ns in namespaces
    )


def is_event_interesting(
    registration: Registration,
    server_name: str,
    *,
    sender: str,
    state_key: str | None,
    event_type: str,
) -> bool:
    """Whether the service should receive the event for its sender or, of a membership
    event, its target (application-service-api.md, "Pushing events"). An event of a room
    that `is_room_of_interest` interests it too."""
    if registration.is_user_interesting(sender, server_name):
        return True
    return (
        event_type == "m.room.member"
        and state_key is not None
        and registration.is_user_interesting(state_key, server_name)
    )


def is_room_of_interest(
    registration: Registration,
    server_name: str,
    *,
    room_id: str,
    room_aliases: Iterable[str] = (),
    room_members: Iterable[str] = (),
) -> bool:
    """Whether every event of the room interests the service: the room is in its rooms
    namespace, one of its aliases in the aliases namespace, or one of the service's users
    among `room_members` (the room's joined local users)."""
    if registration.is_room_interesting(room_id):
        return True
    if any(registration.is_alias_interesting(alias) for alias in room_aliases):
        return True
    return any(registration.is_user_interesting(member, server_name) for member in room_members)


def parse_registration(data: Any) -> Registration:
    """A registration from the YAML mapping of its file; InvalidRegistration if wrong."""
    if not isinstance(data, Mapping):
        raise InvalidRegistration("the file must hold a mapping")
    as_id = _required_str(data, "id")
    as_token = _required_str(data, "as_token")
    hs_token = _required_str(data, "hs_token")
    sender_localpart = _required_str(data, "sender_localpart")
    if not is_valid_localpart(sender_localpart):
        raise InvalidRegistration("sender_localpart: not a valid user localpart")
    url = data.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise InvalidRegistration("url: expected an http(s) URL or null")
    namespaces = data.get("namespaces", {})
    if not isinstance(namespaces, Mapping):
        raise InvalidRegistration("namespaces: expected a mapping of users, aliases and rooms")
    unknown = set(namespaces) - set(NAMESPACE_KINDS)
    if unknown:
        raise InvalidRegistration(f"namespaces.{min(unknown)}: unknown namespace")
    parsed = {kind: _parse_namespaces(kind, namespaces.get(kind)) for kind in NAMESPACE_KINDS}
    rate_limited = data.get("rate_limited", True)
    if not isinstance(rate_limited, bool):
        raise InvalidRegistration("rate_limited: expected true or false")
    protocols = data.get("protocols") or []
    if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
        raise InvalidRegistration("protocols: expected a list of strings")
    ephemeral = data.get("receive_ephemeral", data.get("de.sorunome.msc2409.push_ephemeral", False))
    if not isinstance(ephemeral, bool):
        raise InvalidRegistration("receive_ephemeral: expected true or false")
    return Registration(
        id=as_id,
        url=url.rstrip("/") if url else None,
        as_token=as_token,
        hs_token=hs_token,
        sender_localpart=sender_localpart,
        users=parsed["users"],
        aliases=parsed["aliases"],
        rooms=parsed["rooms"],
        rate_limited=rate_limited,
        protocols=tuple(protocols),
        receive_ephemeral=ephemeral,
    )


def check_registrations(registrations: Iterable[Registration]) -> None:
    """Ids and tokens must be unique across services (a token names one service)."""
    seen: dict[str, str] = {}
    for reg in registrations:
        for label, value in (("id", reg.id), ("as_token", reg.as_token), ("hs_token", reg.hs_token)):
            key = f"{label}:{value}"
            if key in seen:
                raise InvalidRegistration(f"{label}: the same as that of appservice {seen[key]!r}")
            seen[key] = reg.id
        if f"as_token:{reg.hs_token}" in seen or f"hs_token:{reg.as_token}" in seen:
            raise InvalidRegistration("as_token and hs_token must differ")


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRegistration(f"{key}: expected a non-empty string")
    return value


def _parse_namespaces(kind: str, value: Any) -> tuple[Namespace, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRegistration(f"namespaces.{kind}: expected a list of {{exclusive, regex}}")
    result = []
    for index, item in enumerate(value):
        where = f"namespaces.{kind}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidRegistration(f"{where}: expected a mapping with exclusive and regex")
        exclusive = item.get("exclusive", False)
        if not isinstance(exclusive, bool):
            raise InvalidRegistration(f"{where}.exclusive: expected true or false")
        regex = item.get("regex")
        if not isinstance(regex, str):
            raise InvalidRegistration(f"{where}.regex: expected a string")
        try:
            compiled = re.compile(regex)
        except re.error as e:
            raise InvalidRegistration(f"{where}.regex: {e}") from None
        result.append(Namespace(compiled, exclusive))
    return tuple(result)
