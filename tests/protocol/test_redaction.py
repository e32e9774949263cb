import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veche.protocol.redaction import redact
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, RedactionAlgorithm, get_room_version

# Top-level keys kept, per rooms/fragments/v*-redactions.md.
TOP_V1 = {
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
    "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts",
    "membership",
}  # fmt: skip
TOP_V11 = TOP_V1 - {"origin", "membership", "prev_state"}

PL_V1 = {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"}
ALL = None  # every content key is kept

CONTENT = {
    RedactionAlgorithm.V1: {
        "m.room.member": {"membership"},
        "m.room.create": {"creator"},
        "m.room.join_rules": {"join_rule"},
        "m.room.power_levels": PL_V1,
        "m.room.aliases": {"aliases"},
        "m.room.history_visibility": {"history_visibility"},
    },
    RedactionAlgorithm.V6: {
        "m.room.member": {"membership"},
        "m.room.create": {"creator"},
        "m.room.join_rules": {"join_rule"},
        "m.room.power_levels": PL_V1,
        "m.room.history_visibility": {"history_visibility"},
    },
    RedactionAlgorithm.V8: {
        "m.room.member": {"membership"},
        "m.room.create": {"creator"},
        "m.room.join_rules": {"join_rule", "allow"},
        "m.room.power_levels": PL_V1,
        "m.room.history_visibility": {"history_visibility"},
    },
    RedactionAlgorithm.V9: {
        "m.room.member": {"membership", "join_authorised_via_users_server"},
        "m.room.create": {"creator"},
        "m.room.join_rules": {"join_rule", "allow"},
        "m.room.power_levels": PL_V1,
        "m.room.history_visibility": {"history_visibility"},
    },
    RedactionAlgorithm.V11: {
        "m.room.member": {"membership", "join_authorised_via_users_server"},
        "m.room.create": ALL,
        "m.room.join_rules": {"join_rule", "allow"},
        "m.room.power_levels": PL_V1 | {"invite"},
        "m.room.history_visibility": {"history_visibility"},
        "m.room.redaction": {"redacts"},
    },
}

EVENT_TYPES = sorted({t for rules in CONTENT.values() for t in rules} | {"m.room.message", "x"})
CONTENT_KEYS = sorted(
    {k for rules in CONTENT.values() for ks in rules.values() if ks for k in ks}
    | {"body", "third_party_invite", "name", "notifications", "additional_creators"}
)
TOP_KEYS = sorted(TOP_V1 | {"unsigned", "redacts", "prev_state", "age", "extra"})


def test_version_to_algorithm():
    # rooms/vN.md: v1-5 use v1, v6-7 v6, v8 its own list, v9-10 v9, v11-12 v11.
    expected = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 6, 7: 6, 8: 8, 9: 9, 10: 9, 11: 11, 12: 11}
    assert {int(v): rv.redaction.value for v, rv in KNOWN_ROOM_VERSIONS.items()} == expected


pdus = st.fixed_dictionaries(
    {"type": st.sampled_from(EVENT_TYPES)},
    optional={
        key: st.dictionaries(st.sampled_from(CONTENT_KEYS), st.integers() | st.text(), max_size=8)
        if key == "content"
        else st.integers() | st.text() | st.lists(st.text(), max_size=2)
        for key in TOP_KEYS
        if key != "type"
    },
)


@pytest.mark.parametrize("version", list(KNOWN_ROOM_VERSIONS))
@given(pdu=pdus)
def test_keeps_exactly_the_allowed_keys(version, pdu):
    rv = get_room_version(version)
    original = copy.deepcopy(pdu)
    redacted = redact(pdu, rv)
    assert pdu == original
    top = TOP_V11 if rv.redaction is RedactionAlgorithm.V11 else TOP_V1
    assert set(redacted) == (set(pdu) & top) | {"content"}
    for key in set(redacted) - {"content"}:
        assert redacted[key] == pdu[key]
    allowed = CONTENT[rv.redaction].get(pdu["type"], set())
    content = pdu.get("content", {})
    if allowed is ALL:
        assert redacted["content"] == content
    else:
        expected = {k: v for k, v in content.items() if k in allowed}
        if rv.redaction is RedactionAlgorithm.V11 and pdu["type"] == "m.room.member":
            # A non-object third_party_invite has no `signed` to keep.
            assert "third_party_invite" not in redacted["content"]
        assert redacted["content"] == expected
    assert redact(redacted, rv) == redacted


def test_v11_member_keeps_third_party_invite_signed_only():
    rv = get_room_version("11")
    signed = {"mxid": "@a:b", "token": "t", "signatures": {"s": {"ed25519:1": "x"}}}
    pdu = {
        "type": "m.room.member",
        "content": {
            "membership": "invite",
            "displayname": "A",
            "third_party_invite": {"display_name": "a…", "signed": signed},
        },
    }
    assert redact(pdu, rv)["content"] == {
        "membership": "invite",
        "third_party_invite": {"signed": signed},
    }
    assert redact(pdu, get_room_version("10"))["content"] == {"membership": "invite"}
    no_signed = {"type": "m.room.member", "content": {"third_party_invite": {"display_name": "a"}}}
    assert redact(no_signed, rv)["content"] == {}


def test_v11_create_keeps_all_content():
    content = {"room_version": "11", "creator": "@a:b", "m.federate": False, "predecessor": {"x": 1}}
    pdu = {"type": "m.room.create", "content": content}
    assert redact(pdu, get_room_version("11"))["content"] == content
    assert redact(pdu, get_room_version("10"))["content"] == {"creator": "@a:b"}


def test_result_shares_nothing_with_the_input():
    pdu = {
        "type": "m.room.power_levels",
        "content": {"users": {"@a:b": 100}},
        "signatures": {"hs": {"ed25519:1": "s"}},
        "prev_events": ["$a"],
    }
    redacted = redact(pdu, get_room_version("12"))
    redacted["content"]["users"]["@c:d"] = 1
    redacted["signatures"]["x"] = {}
    redacted["prev_events"].append("$b")
    assert pdu == {
        "type": "m.room.power_levels",
        "content": {"users": {"@a:b": 100}},
        "signatures": {"hs": {"ed25519:1": "s"}},
        "prev_events": ["$a"],
    }


def test_missing_or_malformed_content_becomes_empty():
    rv = get_room_version("12")
    assert redact({"type": "m.room.create"}, rv) == {"type": "m.room.create", "content": {}}
    assert redact({"type": "m.room.member", "content": "x"}, rv)["content"] == {}
    assert redact({"content": {"a": 1}}, rv) == {"content": {}}
