"""The server ACL rule (m.room.server_acl schema and client-server server_acls module)."""

from __future__ import annotations

import pytest

from veche.protocol.server_acl import ServerAcl, server_acl_allows

# The spec's example event content.
SPEC_EXAMPLE = {"allow_ip_literals": False, "allow": ["*"], "deny": ["*.evil.com", "evil.com"]}


@pytest.mark.parametrize(
    ("server", "allowed"),
    [
        ("good.example", True),
        ("evil.com", False),
        ("evil.com:8448", False),  # the port is not considered
        ("evil.com:1234", False),
        ("sub.evil.com", False),
        ("EVIL.COM", False),  # case-insensitive
        ("notevil.com", True),
        ("1.2.3.4", False),  # IP literals denied
        ("1.2.3.4:8448", False),
        ("[::1]:8448", False),
    ],
)
def test_spec_example(server: str, allowed: bool) -> None:
    assert server_acl_allows(SPEC_EXAMPLE, server) is allowed


def test_no_acl_allows_everyone() -> None:
    assert server_acl_allows(None, "anything.example")


def test_missing_allow_denies_everyone() -> None:
    assert not server_acl_allows({"deny": []}, "good.example")


def test_ip_literals_allowed_by_default_and_for_non_booleans() -> None:
    assert server_acl_allows({"allow": ["*"]}, "127.0.0.1:8448")
    assert server_acl_allows({"allow": ["*"], "allow_ip_literals": "no"}, "127.0.0.1")


def test_deny_wins_over_allow_and_question_mark_is_one_character() -> None:
    acl = ServerAcl.from_content({"allow": ["?.example", "a*"], "deny": ["b.example"]})
    assert acl.allows("a.example")
    assert not acl.allows("b.example")
    assert not acl.allows("cc.example")
    assert acl.allows("abc")


def test_glob_characters_are_literal_otherwise() -> None:
    acl = ServerAcl.from_content({"allow": ["a.b", 5, None]})
    assert acl.allows("a.b")
    assert not acl.allows("axb")


def test_invalid_server_name_is_denied() -> None:
    assert not server_acl_allows({"allow": ["*"]}, "bad name")
