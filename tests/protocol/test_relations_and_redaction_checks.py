"""Pure rules for served events: which redactions apply, which edits are valid and latest."""

from __future__ import annotations

from tests.protocol.event_factory import EventFactory
from veche.protocol.redaction_checks import redaction_applies
from veche.protocol.relations import is_valid_replacement, latest_replacement, relation_of

ALICE = "@alice:example.org"
MALLORY = "@mallory:evil.example"
MOD = "@mod:other.example"


def redaction(f, sender, target):
    if f.room_version.redacts_in_content:
        return f.event("m.room.redaction", sender, {"redacts": target.event_id})
    return f.event("m.room.redaction", sender, {}, extra={"redacts": target.event_id})


def test_v3_redaction_needs_same_domain_or_redact_power():
    f = EventFactory("10")
    create = f.create(ALICE)
    pl = f.state("m.room.power_levels", ALICE, "", {"users": {ALICE: 100, MOD: 50}, "redact": 50})
    message = f.event("m.room.message", ALICE, {"body": "hi"})
    assert redaction_applies(redaction(f, "@other:example.org", message), message, pl, create)
    assert not redaction_applies(redaction(f, MALLORY, message), message, pl, create)
    assert redaction_applies(redaction(f, MOD, message), message, pl, create)


def test_v1_redactions_were_checked_by_the_auth_rules():
    f = EventFactory("1")
    message = f.event("m.room.message", ALICE, {"body": "hi"})
    assert redaction_applies(redaction(f, MALLORY, message), message, None, None)


def test_redaction_of_another_room_does_not_apply():
    f = EventFactory("11")
    g = EventFactory("11", room_id="!elsewhere:example.org")
    message = f.event("m.room.message", ALICE, {"body": "hi"})
    assert not redaction_applies(redaction(g, ALICE, message), message, None, None)


def test_replacement_validity_and_latest():
    f = EventFactory("11")
    original = f.event("m.room.message", ALICE, {"body": "a"})
    rel = {"rel_type": "m.replace", "event_id": original.event_id}
    good = f.event("m.room.message", ALICE, {"m.new_content": {"body": "b"}, "m.relates_to": rel})
    later = f.event("m.room.message", ALICE, {"m.new_content": {"body": "c"}, "m.relates_to": rel})
    assert is_valid_replacement(original, good)
    assert not is_valid_replacement(original, f.event("m.room.message", MALLORY, {"m.new_content": {}, "m.relates_to": rel}))
    assert not is_valid_replacement(original, f.event("m.sticker", ALICE, {"m.new_content": {}, "m.relates_to": rel}))
    assert not is_valid_replacement(original, f.event("m.room.message", ALICE, {"m.relates_to": rel}))
    assert not is_valid_replacement(good, f.event("m.room.message", ALICE, {"m.new_content": {}}))
    assert latest_replacement([later, good]) is later
    tie_a = f.event("m.room.message", ALICE, {"n": 1}, origin_server_ts=5)
    tie_b = f.event("m.room.message", ALICE, {"n": 2}, origin_server_ts=5)
    assert latest_replacement([tie_a, tie_b]).event_id == max(tie_a.event_id, tie_b.event_id)


def test_relation_of():
    assert relation_of({"m.relates_to": {"rel_type": "m.thread", "event_id": "$x"}}) == ("$x", "m.thread")
    assert relation_of({"m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}) is None
    assert relation_of({"m.relates_to": "nope"}) is None
