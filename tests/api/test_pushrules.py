"""The push rules API (pushrules.yaml) and the m.push_rules account data it publishes."""

from __future__ import annotations

from tests.api.userdata_helpers import call, q


async def test_defaults_are_listed_with_the_users_id(http, make_user) -> None:
    alice = await make_user("alice")
    status, body = await call(http, "GET", "/pushrules/", alice)
    assert status == 200
    ruleset = body["global"]
    assert set(ruleset) == {"override", "content", "room", "sender", "underride"}
    assert ruleset["override"][0]["rule_id"] == ".m.rule.master"
    invite = next(r for r in ruleset["override"] if r["rule_id"] == ".m.rule.invite_for_me")
    assert {"key": "state_key", "kind": "event_match", "pattern": alice.user_id} in invite["conditions"]
    assert [r["rule_id"] for r in ruleset["underride"]] == [
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ]
    assert (await call(http, "GET", "/pushrules/global/", alice))[1] == ruleset
    status, rule = await call(http, "GET", "/pushrules/global/override/.m.rule.is_user_mention", alice)
    assert status == 200 and rule["conditions"][0]["value"] == alice.user_id


async def test_put_with_before_and_after_then_delete(http, make_user) -> None:
    alice = await make_user("alice")
    base = "/pushrules/global/content"
    assert await call(http, "PUT", f"{base}/cake", alice, {"pattern": "cake", "actions": ["notify"]}) == (200, {})
    assert (await call(http, "PUT", f"{base}/pie", alice, {"pattern": "pie", "actions": []}))[0] == 200
    status, _ = await call(http, "PUT", f"{base}/lie?before=cake", alice, {"pattern": "cake*lie", "actions": ["notify"]})
    assert status == 200
    assert (await call(http, "PUT", f"{base}/tart?after=cake", alice, {"pattern": "tart", "actions": []}))[0] == 200
    rules = (await call(http, "GET", "/pushrules/global/", alice))[1]["content"]
    assert [r["rule_id"] for r in rules] == ["pie", "lie", "cake", "tart"]
    assert rules[2] == {"rule_id": "cake", "default": False, "enabled": True, "pattern": "cake", "actions": ["notify"]}

    status, error = await call(http, "PUT", f"{base}/x?before=nope", alice, {"pattern": "x", "actions": []})
    assert status == 400 and error["errcode"] == "M_UNKNOWN"
    status, error = await call(http, "PUT", f"{base}/.mine", alice, {"pattern": "x", "actions": []})
    assert status == 400
    status, _ = await call(http, "PUT", f"{base}/nopattern", alice, {"actions": []})
    assert status == 400

    assert await call(http, "DELETE", f"{base}/pie", alice) == (200, {})
    status, error = await call(http, "GET", f"{base}/pie", alice)
    assert status == 404 and error["errcode"] == "M_NOT_FOUND"
    assert (await call(http, "DELETE", f"{base}/pie", alice))[0] == 404


async def test_enabled_and_actions_of_default_and_own_rules(http, make_user) -> None:
    alice = await make_user("alice")
    master = "/pushrules/global/override/.m.rule.master"
    assert await call(http, "GET", f"{master}/enabled", alice) == (200, {"enabled": False})
    assert await call(http, "PUT", f"{master}/enabled", alice, {"enabled": True}) == (200, {})
    assert await call(http, "GET", f"{master}/enabled", alice) == (200, {"enabled": True})
    message = "/pushrules/global/underride/.m.rule.message"
    actions = ["notify", {"set_tweak": "sound", "value": "bing"}]
    assert await call(http, "PUT", f"{message}/actions", alice, {"actions": actions}) == (200, {})
    assert await call(http, "GET", f"{message}/actions", alice) == (200, {"actions": actions})
    assert (await call(http, "PUT", f"{message}/actions", alice, {"actions": ["explode"]}))[0] == 400
    assert (await call(http, "PUT", f"{master}/enabled", alice, {"enabled": "yes"}))[0] == 400

    room_rule = f"/pushrules/global/room/{q('!somewhere:veche.test')}"
    assert (await call(http, "PUT", room_rule, alice, {"actions": []}))[0] == 200
    assert await call(http, "PUT", f"{room_rule}/enabled", alice, {"enabled": False}) == (200, {})
    status, rule = await call(http, "GET", room_rule, alice)
    assert status == 200 and rule == {"rule_id": "!somewhere:veche.test", "default": False, "enabled": False, "actions": []}
    assert (await call(http, "GET", "/pushrules/global/override/.m.rule.nope/enabled", alice))[0] == 404
    assert (await call(http, "GET", "/pushrules/global/flavour/x", alice))[0] == 400


async def test_changes_reach_sync_account_data(http, make_user) -> None:
    alice = await make_user("alice")
    assert (await call(http, "PUT", "/pushrules/global/sender/%40bot%3Aveche.test", alice, {"actions": []}))[0] == 200
    status, body = await call(http, "GET", "/sync", alice)
    assert status == 200
    events = {e["type"]: e["content"] for e in body["account_data"]["events"]}
    assert events["m.push_rules"]["global"]["sender"][0]["rule_id"] == "@bot:veche.test"


async def test_rules_are_per_user(http, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    assert (await call(http, "PUT", "/pushrules/global/override/mine", alice, {"conditions": [], "actions": []}))[0] == 200
    assert (await call(http, "GET", "/pushrules/global/override/mine", bob))[0] == 404
