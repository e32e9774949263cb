import pytest

from veche.protocol.room_creation import (
    InvalidCreateRoomRequest,
    create_event_content,
    parse_create_room_request,
    plan_initial_events,
)
from veche.protocol.room_versions import get_room_version

ALICE = "@alice:hs"


def plan(body, version="12", alias=None):
    request = parse_create_room_request(body)
    return request, plan_initial_events(request, ALICE, get_room_version(version), alias)


def test_spec_example_public_room_order():
    # The request example of create_room.yaml.
    body = {"preset": "public_chat", "room_alias_name": "thepub", "name": "The Grand Duke Pub",
            "topic": "All about happy hour", "creation_content": {"m.federate": False}}
    request, events = plan(body, alias="#thepub:hs")
    assert [(e.type, e.state_key) for e in events] == [
        ("m.room.member", ALICE),
        ("m.room.power_levels", ""),
        ("m.room.canonical_alias", ""),
        ("m.room.join_rules", ""),
        ("m.room.history_visibility", ""),
        ("m.room.guest_access", ""),
        ("m.room.name", ""),
        ("m.room.topic", ""),
    ]
    assert events[3].content == {"join_rule": "public"}
    assert events[5].content == {"guest_access": "forbidden"}
    content = create_event_content(request, ALICE, get_room_version("12"))
    assert content == {"m.federate": False, "room_version": "12"}


def test_visibility_picks_the_preset():
    request, events = plan({"visibility": "public"})
    assert request.preset == "public_chat"
    request, events = plan({})
    assert request.preset == "private_chat"
    assert {"join_rule": "invite"} in [e.content for e in events]


def test_initial_state_overrides_preset_and_name_overrides_initial_state():
    _, events = plan({
        "initial_state": [
            {"type": "m.room.join_rules", "content": {"join_rule": "knock"}},
            {"type": "m.room.name", "state_key": "", "content": {"name": "old"}},
        ],
        "name": "new",
    })
    join_rules = [e.content for e in events if e.type == "m.room.join_rules"]
    names = [e.content for e in events if e.type == "m.room.name"]
    assert join_rules == [{"join_rule": "knock"}]
    assert names == [{"name": "new"}]


def test_power_levels_per_room_version():
    body = {"preset": "trusted_private_chat", "invite": ["@bob:hs"]}
    _, v11 = plan(body, "11")
    pl11 = next(e.content for e in v11 if e.type == "m.room.power_levels")
    assert pl11["users"] == {ALICE: 100, "@bob:hs": 100}
    assert pl11["events"]["m.room.tombstone"] == 100
    request, v12 = plan(body, "12")
    pl12 = next(e.content for e in v12 if e.type == "m.room.power_levels")
    assert pl12["users"] == {}
    assert pl12["events"]["m.room.tombstone"] > pl12["state_default"]
    assert create_event_content(request, ALICE, get_room_version("12"))["additional_creators"] == ["@bob:hs"]


def test_creator_key_only_before_v11():
    request = parse_create_room_request({"creation_content": {"creator": "@mallory:x"}})
    assert create_event_content(request, ALICE, get_room_version("10"))["creator"] == ALICE
    assert "creator" not in create_event_content(request, ALICE, get_room_version("11"))


def test_override_and_direct_invites():
    _, events = plan({"invite": ["@bob:hs"], "is_direct": True, "power_level_content_override": {"ban": 0}})
    assert events[-1].content == {"membership": "invite", "is_direct": True}
    assert events[-1].state_key == "@bob:hs"
    assert next(e.content for e in events if e.type == "m.room.power_levels")["ban"] == 0


@pytest.mark.parametrize("body", [
    {"visibility": "secret"}, {"preset": "party"}, {"invite": "@bob:hs"}, {"invite": [1]},
    {"initial_state": [{"type": "x"}]}, {"is_direct": "yes"}, {"creation_content": []},
])
def test_bad_requests(body):
    with pytest.raises(InvalidCreateRoomRequest):
        parse_create_room_request(body)
