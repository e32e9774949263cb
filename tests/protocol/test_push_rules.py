"""Push rules, from the examples of client-server-api/modules/push.md and the appendices."""

from __future__ import annotations

import pytest

from veche.protocol.push_rules import (
    CONTENT,
    DEFAULT_RULESET,
    KINDS,
    OVERRIDE,
    ROOM,
    SENDER,
    UNDERRIDE,
    EventFacts,
    InvalidPushRule,
    UnknownRule,
    UserRules,
    build_ruleset,
    compile_condition,
    condition_matches,
    evaluate,
    evaluate_bulk,
    glob_matches,
    is_highlight,
    is_notify,
    member_count_matches,
    normalise_actions,
    parse_property_path,
    rule_from_request,
    tweaks,
)

ME = "@me:example.org"
OTHER = "@other:example.org"


def facts(event: dict, *, members: int = 5, power: float = 0, room_level: int = 50) -> EventFacts:
    return EventFacts(event, members, power, lambda key: room_level if key == "room" else 50)


def matches(condition: dict, event: dict, *, user: str = ME, name: str | None = None, **kw) -> bool:
    return condition_matches(compile_condition(condition), facts(event, **kw), user, name)


def message(body: str = "hello", **content) -> dict:
    return {
        "type": "m.room.message",
        "room_id": "!room:example.org",
        "sender": OTHER,
        "event_id": "$e",
        "content": {"msgtype": "m.text", "body": body, **content},
    }


# --- paths and globs --------------------------------------------------------------------


def test_property_paths_unescape_dots_and_backslashes() -> None:
    assert parse_property_path("content.body") == ("content", "body")
    assert parse_property_path("content.m\\.relates_to") == ("content", "m.relates_to")
    assert parse_property_path("content.m\\\\foo") == ("content", "m\\foo")
    # Other escapes stay as they are.
    assert parse_property_path("content.a\\x") == ("content", "a\\x")


def test_event_match_topic_example() -> None:
    cond = {"kind": "event_match", "key": "content.topic", "pattern": "lunc?*"}
    topic = lambda t: {"type": "m.room.topic", "state_key": "", "content": {"topic": t}}  # noqa: E731
    assert matches(cond, topic("Lunch plans"))
    assert matches(cond, topic("LUNCH"))
    assert not matches(cond, topic(" lunch"))
    assert not matches(cond, topic("lunc"))
    assert not matches(cond, topic(None))


def test_event_match_body_word_boundaries_example() -> None:
    cond = {"kind": "event_match", "key": "content.body", "pattern": "ex*ple"}
    assert matches(cond, message("An example event."))
    assert matches(cond, message("exple"))
    assert matches(cond, message("An exciting triple-whammy"))
    assert not matches(cond, message("anexample"))
    assert not matches(cond, message("examples"))


def test_event_match_needs_a_string_even_for_star() -> None:
    cond = {"kind": "event_match", "key": "content.missing", "pattern": "*"}
    assert not matches(cond, message())
    assert not matches({"kind": "event_match", "key": "content", "pattern": "*"}, message())
    assert matches({"kind": "event_match", "key": "type", "pattern": "m.room.*"}, message())


def test_glob_special_characters_are_literal() -> None:
    assert glob_matches("a.b", "A.B")
    assert not glob_matches("a.b", "axb")
    assert glob_matches("[x]", "[X]")


# --- exact values -----------------------------------------------------------------------


def test_event_property_is_example() -> None:
    cond = {"kind": "event_property_is", "key": "content.m\\.federate", "value": True}
    create = lambda v: {"type": "m.room.create", "state_key": "", "content": {"m.federate": v}}  # noqa: E731
    assert matches(cond, create(True))
    assert not matches(cond, create("true"))
    assert not matches(cond, create(1))
    assert matches({"kind": "event_property_is", "key": "content.x", "value": None}, {"content": {"x": None}})
    assert not matches({"kind": "event_property_is", "key": "content.x", "value": None}, {"content": {}})
    assert matches({"kind": "event_property_is", "key": "content.x", "value": 1}, {"content": {"x": 1}})
    assert not matches({"kind": "event_property_is", "key": "content.x", "value": 1}, {"content": {"x": True}})


def test_event_property_contains_example() -> None:
    cond = {"kind": "event_property_contains", "key": "content.alt_aliases", "value": "#myroom:example.com"}
    alias = lambda v: {"type": "m.room.canonical_alias", "content": {"alt_aliases": v}}  # noqa: E731
    assert matches(cond, alias(["#somewhere:example.org", "#myroom:example.com"]))
    assert not matches(cond, alias([":example.com"]))
    assert not matches(cond, alias("#myroom:example.com"))
    assert not matches(cond, {"content": {}})


def test_compound_values_are_refused_in_rules() -> None:
    with pytest.raises(InvalidPushRule):
        compile_condition({"kind": "event_property_is", "key": "a", "value": [1]})
    with pytest.raises(InvalidPushRule):
        compile_condition({"kind": "event_property_is", "key": "a", "value": 2**53})


def test_room_member_count() -> None:
    assert member_count_matches("2", 2)
    assert member_count_matches("==2", 2)
    assert member_count_matches("<10", 9) and not member_count_matches("<10", 10)
    assert member_count_matches("<=10", 10) and not member_count_matches("<=10", 11)
    assert member_count_matches(">3", 4) and not member_count_matches(">3", 3)
    assert member_count_matches(">=3", 3)
    assert not member_count_matches("~3", 3)
    assert matches({"kind": "room_member_count", "is": "<=10"}, message(), members=10)


def test_sender_notification_permission() -> None:
    cond = {"kind": "sender_notification_permission", "key": "room"}
    assert matches(cond, message(), power=50)
    assert not matches(cond, message(), power=49)
    assert matches(cond, message(), power=10, room_level=10)


def test_contains_display_name() -> None:
    cond = {"kind": "contains_display_name"}
    assert matches(cond, message("hey Alice B, look"), name="alice b")
    assert not matches(cond, message("hey AliceB"), name="Alice")
    assert not matches(cond, message("hey Alice"), name=None)
    assert not matches(cond, {"type": "m.room.message", "content": {"body": 3}}, name="Alice")


def test_unknown_conditions_never_match() -> None:
    assert not matches({"kind": "org.example.future"}, message())


# --- actions ----------------------------------------------------------------------------


def test_historical_actions_are_stripped() -> None:
    assert normalise_actions(["dont_notify"]) == ()
    assert normalise_actions(["notify", "coalesce"]) == ("notify",)
    with pytest.raises(InvalidPushRule):
        normalise_actions(["explode"])


def test_tweaks_and_highlight() -> None:
    actions = ("notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"})
    assert is_notify(actions)
    assert tweaks(actions) == {"sound": "default", "highlight": True}
    assert is_highlight(actions)
    assert not is_highlight(("notify", {"set_tweak": "highlight", "value": False}))


# --- the default rules ------------------------------------------------------------------


def rule_ids(kind: str) -> list[str]:
    return [r.rule_id for r in DEFAULT_RULESET.by_kind(kind)]


def test_default_rules_in_spec_order() -> None:
    assert rule_ids(OVERRIDE) == [
        ".m.rule.master",
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
        ".m.rule.is_user_mention",
        ".m.rule.is_room_mention",
        ".m.rule.tombstone",
        ".m.rule.reaction",
        ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
    ]
    assert rule_ids(UNDERRIDE) == [
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ]
    assert rule_ids(CONTENT) == rule_ids(ROOM) == rule_ids(SENDER) == []


def test_default_rules_render_with_the_users_id() -> None:
    rendered = DEFAULT_RULESET.to_json(ME)
    assert set(rendered) == set(KINDS)
    mention = next(r for r in rendered["override"] if r["rule_id"] == ".m.rule.is_user_mention")
    assert mention == {
        "rule_id": ".m.rule.is_user_mention",
        "default": True,
        "enabled": True,
        "conditions": [{"kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": ME}],
        "actions": ["notify", {"set_tweak": "sound", "value": "default"}, {"set_tweak": "highlight"}],
    }
    master = rendered["override"][0]
    assert master == {"rule_id": ".m.rule.master", "default": True, "enabled": False, "conditions": [], "actions": []}


def default_actions(event: dict, **kw) -> tuple | None:
    return evaluate(facts(event, **kw), ME, DEFAULT_RULESET)


def test_plain_message_notifies_without_highlight() -> None:
    actions = default_actions(message())
    assert actions == ("notify",)


def test_user_mention_highlights() -> None:
    actions = default_actions(message("hi", **{"m.mentions": {"user_ids": [ME]}}))
    assert actions is not None and is_highlight(actions) and tweaks(actions)["sound"] == "default"
    other = default_actions(message("hi", **{"m.mentions": {"user_ids": [OTHER]}}))
    assert other == ("notify",)


def test_body_mention_of_the_user_id_no_longer_highlights() -> None:
    # v1.17 removed the legacy rules that matched the user's ID or name in the body.
    assert default_actions(message(f"hi {ME} and me")) == ("notify",)


def test_room_mention_needs_power() -> None:
    event = message("@room", **{"m.mentions": {"room": True}})
    assert is_highlight(default_actions(event, power=50) or ())
    assert not is_highlight(default_actions(event, power=0) or ())


def test_one_to_one_rooms_make_a_sound() -> None:
    assert default_actions(message(), members=2) == ("notify", {"set_tweak": "sound", "value": "default"})
    encrypted = {"type": "m.room.encrypted", "sender": OTHER, "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
    assert default_actions(encrypted, members=2) == ("notify", {"set_tweak": "sound", "value": "default"})
    assert default_actions(encrypted, members=3) == ("notify",)


def test_suppressed_kinds() -> None:
    assert default_actions(message(msgtype="m.notice")) == ()
    edit = message("* fixed", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}})
    assert default_actions(edit) == ()
    assert default_actions({"type": "m.reaction", "content": {}}) == ()
    acl = {"type": "m.room.server_acl", "state_key": "", "content": {}}
    assert default_actions(acl) == ()
    assert default_actions({"type": "m.room.member", "state_key": OTHER, "content": {"membership": "join"}}) == ()
    assert default_actions({"type": "m.room.name", "state_key": "", "content": {"name": "x"}}) is None


def test_invites_tombstones_and_calls() -> None:
    invite = {"type": "m.room.member", "state_key": ME, "content": {"membership": "invite"}}
    assert is_notify(default_actions(invite) or ())
    tombstone = {"type": "m.room.tombstone", "state_key": "", "content": {}}
    assert is_highlight(default_actions(tombstone) or ())
    # No implicit state_key condition: a message event of that type is not a tombstone.
    assert default_actions({"type": "m.room.tombstone", "content": {}}) is None
    call = {"type": "m.call.invite", "content": {}}
    assert tweaks(default_actions(call) or ()) == {"sound": "ring"}


def test_master_rule_silences_everything() -> None:
    rules = build_ruleset(UserRules().set_enabled(OVERRIDE, ".m.rule.master", True))
    assert evaluate(facts(message()), ME, rules) == ()


# --- user rules -------------------------------------------------------------------------


def test_user_rules_beat_defaults_of_their_kind_but_not_master() -> None:
    mute_room = rule_from_request(ROOM, "!room:example.org", {"actions": []})
    rules = UserRules().put(mute_room)
    assert evaluate(facts(message()), ME, build_ruleset(rules)) == ()
    # An override still wins over a room rule.
    mention = message("hi", **{"m.mentions": {"user_ids": [ME]}})
    assert is_highlight(evaluate(facts(mention), ME, build_ruleset(rules)) or ())
    sender = rule_from_request(SENDER, OTHER, {"actions": ["notify", {"set_tweak": "sound", "value": "x"}]})
    ruleset = build_ruleset(UserRules().put(sender))
    assert tweaks(evaluate(facts(message()), ME, ruleset) or ()) == {"sound": "x"}


def test_content_rule_and_the_spec_beer_example() -> None:
    cake = rule_from_request(CONTENT, "cake", {"pattern": "cake", "actions": ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}]})
    rules = UserRules().put(cake)
    assert tweaks(evaluate(facts(message("I want cake!")), ME, build_ruleset(rules)) or ()) == {"sound": "cakealarm.wav"}
    assert evaluate(facts(message("pancakes")), ME, build_ruleset(rules)) == ("notify",)
    beer = rule_from_request(
        OVERRIDE,
        "beer",
        {
            "conditions": [
                {"kind": "event_match", "key": "content.body", "pattern": "beer"},
                {"kind": "room_member_count", "is": "<=10"},
            ],
            "actions": ["notify", {"set_tweak": "sound", "value": "beeroclock.wav"}],
        },
    )
    ruleset = build_ruleset(rules.put(beer))
    assert tweaks(evaluate(facts(message("beer time"), members=10), ME, ruleset) or ()) == {"sound": "beeroclock.wav"}
    assert evaluate(facts(message("beer time"), members=11), ME, ruleset) == ("notify",)


def test_display_name_rule() -> None:
    rule = rule_from_request(
        OVERRIDE, "name", {"conditions": [{"kind": "contains_display_name"}], "actions": ["notify", {"set_tweak": "highlight"}]}
    )
    ruleset = build_ruleset(UserRules().put(rule))
    assert ruleset.needs_display_name
    assert is_highlight(evaluate(facts(message("ping Me Myself")), ME, ruleset, "me myself") or ())
    assert not is_highlight(evaluate(facts(message("ping nobody")), ME, ruleset, "me myself") or ())


def test_before_and_after_ordering() -> None:
    a = rule_from_request(OVERRIDE, "a", {"actions": []})
    b = rule_from_request(OVERRIDE, "b", {"actions": []})
    c = rule_from_request(OVERRIDE, "c", {"actions": []})
    rules = UserRules().put(a).put(b)  # new rules go first
    assert [r.rule_id for r in rules.custom[OVERRIDE]] == ["b", "a"]
    rules = rules.put(c, after="b")
    assert [r.rule_id for r in rules.custom[OVERRIDE]] == ["b", "c", "a"]
    rules = rules.put(a, before="b", after="c")  # before wins
    assert [r.rule_id for r in rules.custom[OVERRIDE]] == ["a", "b", "c"]
    # Replacing without before/after keeps the place.
    rules = rules.put(rule_from_request(OVERRIDE, "b", {"actions": ["notify"]}))
    assert [r.rule_id for r in rules.custom[OVERRIDE]] == ["a", "b", "c"]
    with pytest.raises(InvalidPushRule):
        rules.put(rule_from_request(OVERRIDE, "d", {"actions": []}), before=".m.rule.master")
    order = [r.rule_id for r in build_ruleset(rules).by_kind(OVERRIDE)]
    assert order[:4] == [".m.rule.master", "a", "b", "c"]


def test_edits_round_trip_through_storage_form() -> None:
    rules = (
        UserRules()
        .put(rule_from_request(CONTENT, "x", {"pattern": "x*", "actions": ["notify"]}))
        .set_enabled(CONTENT, "x", False)
        .set_actions(UNDERRIDE, ".m.rule.message", ())
        .set_enabled(OVERRIDE, ".m.rule.reaction", False)
    )
    again = UserRules.from_json(rules.to_json())
    assert again.to_json() == rules.to_json()
    assert build_ruleset(again).to_json(ME) == build_ruleset(rules).to_json(ME)
    assert not again.find(CONTENT, "x").enabled
    assert again.find(UNDERRIDE, ".m.rule.message").actions == ()
    assert again.delete(CONTENT, "x").find(OVERRIDE, ".m.rule.reaction").enabled is False
    with pytest.raises(UnknownRule):
        again.delete(CONTENT, "x").find(CONTENT, "x")
    with pytest.raises(UnknownRule):
        UserRules().find(OVERRIDE, ".m.rule.message")  # wrong kind


def test_reserved_and_malformed_rule_ids() -> None:
    for bad in (".mine", "a/b", "a\\b", ""):
        with pytest.raises(InvalidPushRule):
            rule_from_request(OVERRIDE, bad, {"actions": []})
    with pytest.raises(InvalidPushRule):
        rule_from_request(CONTENT, "nopattern", {"actions": []})


def test_bulk_matches_single_evaluation() -> None:
    users = {f"@u{i}:example.org": DEFAULT_RULESET for i in range(50)}
    custom = build_ruleset(UserRules().put(rule_from_request(ROOM, "!room:example.org", {"actions": []})))
    users["@muted:example.org"] = custom
    event = message("hi", **{"m.mentions": {"user_ids": ["@u3:example.org"]}})
    results = evaluate_bulk(facts(event), users)
    for user_id, ruleset in users.items():
        assert results.get(user_id) == evaluate(facts(event), user_id, ruleset)
    assert is_highlight(results["@u3:example.org"])
    assert results["@u4:example.org"] == ("notify",)
    assert results["@muted:example.org"] == ()
