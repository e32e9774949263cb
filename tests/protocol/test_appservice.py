"""Registrations and the interest rules of application-service-api.md."""

from __future__ import annotations

import re
from typing import Any

import pytest

from veche.protocol.appservice import (
    InvalidRegistration,
    check_registrations,
    is_event_interesting,
    is_room_of_interest,
    parse_registration,
)

SERVER = "example.org"


def _data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "irc",
        "url": "http://127.0.0.1:9000/",
        "as_token": "as",
        "hs_token": "hs",
        "sender_localpart": "_irc_bot",
        "namespaces": {
            "users": [{"exclusive": True, "regex": "@_irc_.*:example\\.org"}],
            "aliases": [{"exclusive": False, "regex": "#_irc_.*:example\\.org"}],
            "rooms": [{"exclusive": False, "regex": "!portal.*:example\\.org"}],
        },
    }
    data.update(changes)
    return data


def _interesting(reg: Any, **event: Any) -> bool:
    fields = {"sender": "@alice:example.org", "room_id": "!r:example.org", "state_key": None, "event_type": "m.room.message"}
    fields.update(event)
    room = {key: fields.pop(key) for key in ("room_id", "room_aliases", "room_members") if key in fields}
    return is_event_interesting(reg, SERVER, **fields) or is_room_of_interest(reg, SERVER, **room)


def test_the_spec_example_parses() -> None:
    reg = parse_registration(_data())
    assert reg.url == "http://127.0.0.1:9000"
    assert reg.sender(SERVER) == "@_irc_bot:example.org"
    assert reg.rate_limited and not reg.receive_ephemeral


def test_namespaces_match_whole_identifiers_and_exclusivity() -> None:
    reg = parse_registration(_data())
    assert reg.owns_user("@_irc_alice:example.org")
    assert not reg.owns_user("@_irc_alice:example.org.evil")
    assert not reg.owns_user("@alice:example.org")
    assert reg.is_alias_interesting("#_irc_chan:example.org")
    assert not reg.owns_alias("#_irc_chan:example.org")  # not exclusive


@pytest.mark.parametrize(
    "event, expected",
    [
        ({}, False),
        ({"sender": "@_irc_bob:example.org"}, True),
        ({"sender": "@_irc_bot:example.org"}, True),
        ({"event_type": "m.room.member", "state_key": "@_irc_bob:example.org"}, True),
        ({"event_type": "m.room.topic", "state_key": "@_irc_bob:example.org"}, False),
        ({"room_id": "!portal1:example.org"}, True),
        ({"room_aliases": ["#_irc_chan:example.org"]}, True),
        ({"room_aliases": ["#other:example.org"]}, False),
        ({"room_members": ["@alice:example.org", "@_irc_bob:example.org"]}, True),
        ({"room_members": ["@alice:example.org"]}, False),
    ],
)
def test_interest(event: dict[str, Any], expected: bool) -> None:
    assert _interesting(parse_registration(_data()), **event) is expected


def test_url_may_be_null() -> None:
    assert parse_registration(_data(url=None)).url is None


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"id": ""}, "id"),
        ({"as_token": None}, "as_token"),
        ({"sender_localpart": "Not Valid"}, "sender_localpart"),
        ({"url": "ftp://x"}, "url"),
        ({"namespaces": {"users": [{"exclusive": True, "regex": "("}]}}, "namespaces.users[0].regex"),
        ({"namespaces": {"users": [{"exclusive": "yes", "regex": "x"}]}}, "namespaces.users[0].exclusive"),
        ({"namespaces": {"people": []}}, "namespaces.people"),
        ({"rate_limited": "no"}, "rate_limited"),
        ({"protocols": "irc"}, "protocols"),
    ],
)
def test_bad_registrations_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRegistration, match="^" + re.escape(field) + ":"):
        parse_registration(_data(**changes))


def test_tokens_and_ids_are_unique() -> None:
    first = parse_registration(_data())
    with pytest.raises(InvalidRegistration, match="^id:"):
        check_registrations([first, parse_registration(_data(as_token="a2", hs_token="h2"))])
    with pytest.raises(InvalidRegistration, match="^as_token:"):
        check_registrations([first, parse_registration(_data(id="two", hs_token="h2"))])
    check_registrations([first, parse_registration(_data(id="two", as_token="a2", hs_token="h2"))])
