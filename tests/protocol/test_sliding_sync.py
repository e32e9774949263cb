"""The sliding sync request rules (protocol/sliding_sync.py): parsing both dialects,
required state matching, config combination, filters, windows and the activity order."""

from __future__ import annotations

import pytest

from veche.protocol.sliding_sync import (
    Pos,
    ExtensionConfig,
    ListFilters,
    RoomConfig,
    RoomFacts,
    SlidingSyncRequestError,
    combine_configs,
    parse_request,
    sort_by_activity,
)

ME = "@me:example.org"


def config_of(required_state, timeline_limit=1):
    return parse_request({"room_subscriptions": {"!r:x": {"timeline_limit": timeline_limit, "required_state": required_state}}}).subscriptions["!r:x"]


def test_pairs_dialect_wildcards_me_and_lazy():
    config = config_of([["m.room.name", ""], ["m.room.member", "$ME"], ["m.room.member", "$LAZY"], ["*", "shared"]])
    assert config.wants_state(("m.room.name", ""), ME)
    assert not config.wants_state(("m.room.topic", ""), ME)
    assert config.wants_state(("m.room.member", ME), ME)
    assert not config.wants_state(("m.room.member", "@other:x"), ME)
    assert config.wants_state(("anything", "shared"), ME)
    assert config.lazy_members
    assert not config.wants_all_of_type("m.room.member")
    everything = config_of([["*", "*"]])
    assert everything.wants_state(("m.room.member", "@other:x"), ME)
    assert everything.wants_all_of_type("m.room.member")
    all_members = config_of([["m.room.member", "*"]])
    assert all_members.wants_all_of_type("m.room.member") and not all_members.wants_state(("m.room.name", ""), ME)


def test_object_dialect_include_exclude():
    config = config_of({"include": [{}], "exclude": [{"type": "m.room.create", "state_key": ""}], "lazy_members": True})
    assert config.wants_state(("m.room.name", ""), ME)
    assert not config.wants_state(("m.room.create", ""), ME)
    assert config.lazy_members
    by_key = config_of({"include": [{"state_key": ME}]})
    assert by_key.wants_state(("m.room.member", ME), ME) and by_key.wants_state(("x.custom", ME), ME)
    assert not config_of({}).wants_state(("m.room.name", ""), ME)


def test_combining_configs_takes_the_superset():
    names = config_of([["m.room.name", ""]], timeline_limit=1)
    topics = config_of([["m.room.topic", ""], ["m.room.member", "$LAZY"]], timeline_limit=10)
    combined = combine_configs([names, topics])
    assert combined.timeline_limit == 10
    assert combined.wants_state(("m.room.name", ""), ME) and combined.wants_state(("m.room.topic", ""), ME)
    assert combined.lazy_members
    assert combine_configs([names, names]) == names


def test_ranges_and_windows():
    request = parse_request({"lists": {
        "old": {"ranges": [[0, 1], [3, 3]], "timeline_limit": 1},
        "new": {"range": [1, 2], "timeline_limit": 1},
        "all": {"timeline_limit": 1},
    }})
    rooms = ["a", "b", "c", "d", "e"]
    assert request.lists["old"].window(rooms) == ["a", "b", "d"]
    assert request.lists["new"].window(rooms) == ["b", "c"]
    assert request.lists["all"].window(rooms) == rooms
    assert request.lists["old"].window(["a"]) == ["a"]


def test_timeline_limit_is_capped():
    assert config_of([], timeline_limit=10_000).timeline_limit == 100


def test_filters():
    room = RoomFacts(membership="join", is_dm=True, is_encrypted=False, room_type=None, tags=frozenset({"m.favourite"}))
    space = RoomFacts(membership="invite", is_dm=False, is_encrypted=True, room_type="m.space")
    assert ListFilters(is_dm=True).matches(room) and not ListFilters(is_dm=True).matches(space)
    assert ListFilters(is_encrypted=True).matches(space) and not ListFilters(is_encrypted=True).matches(room)
    assert ListFilters(is_invited=True).matches(space) and ListFilters(is_invited=False).matches(room)
    assert ListFilters(not_room_types=("m.space",)).matches(room)
    assert not ListFilters(not_room_types=("m.space",)).matches(space)
    assert ListFilters(room_types=(None,)).matches(room) and not ListFilters(room_types=(None,)).matches(space)
    # not_room_types wins over room_types.
    assert not ListFilters(room_types=("m.space",), not_room_types=("m.space",)).matches(space)
    assert ListFilters(tags=("m.favourite",)).matches(room) and not ListFilters(not_tags=("m.favourite",)).matches(room)
    assert not ListFilters(spaces=("!space:x",)).matches(room)
    child = RoomFacts("join", False, False, None, parent_spaces=frozenset({"!space:x"}))
    assert ListFilters(spaces=("!space:x",)).matches(child)
    # Both spellings of the invite filter.
    assert parse_request({"lists": {"l": {"filters": {"is_invite": True}}}}).lists["l"].filters.is_invited is True
    assert parse_request({"lists": {"l": {"filters": {"is_invited": False}}}}).lists["l"].filters.is_invited is False


def test_activity_order_is_stable():
    assert sort_by_activity({"!b:x": 5, "!a:x": 5, "!c:x": 9, "!d:x": 1}) == ["!c:x", "!a:x", "!b:x", "!d:x"]


def test_extension_scope():
    windows = {"all": ["!a:x", "!b:x"], "dms": ["!c:x"]}
    subscriptions = ["!s:x", "!t:x"]
    assert ExtensionConfig(True).in_scope(windows, subscriptions) == {"!a:x", "!b:x", "!c:x", "!s:x", "!t:x"}
    assert ExtensionConfig(True, lists=("dms",), rooms=()).in_scope(windows, subscriptions) == {"!c:x"}
    assert ExtensionConfig(True, lists=(), rooms=("!t:x", "!unknown:x")).in_scope(windows, subscriptions) == {"!t:x"}
    assert ExtensionConfig(True, lists=("*",), rooms=("*",)).in_scope(windows, []) == {"!a:x", "!b:x", "!c:x"}


def test_pos_and_timeout_from_query_or_body():
    request = parse_request({"conn_id": "room-list", "pos": "body", "timeout": 5}, pos="query")
    assert (request.conn_id, request.pos, request.timeout_ms) == ("room-list", "query", 5)
    assert parse_request({"pos": "body"}, timeout_ms=-3).pos == "body"
    assert parse_request({}, timeout_ms=-3).timeout_ms == 0
    assert parse_request({"extensions": {"unknown": {"enabled": True}, "typing": None}}).extensions.keys() == {"unknown"}


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ([], "M_BAD_JSON"),
        ({"lists": {"l": {"ranges": [[2, 1]]}}}, "M_INVALID_PARAM"),
        ({"lists": {"l": {"ranges": [[-1, 1]]}}}, "M_INVALID_PARAM"),
        ({"lists": {"l": {"ranges": [[0, True]]}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"range": [0]}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"timeline_limit": -1}}}, "M_INVALID_PARAM"),
        ({"lists": {"l": {"required_state": [["a", 1]]}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"required_state": {"include": [[]]}}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"required_state": {"lazy_members": "yes"}}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"filters": {"room_types": [1]}}}}, "M_BAD_JSON"),
        ({"lists": {"l": {"filters": {"spaces": "!s:x"}}}}, "M_BAD_JSON"),
        ({"lists": {str(i): {} for i in range(101)}}, "M_INVALID_PARAM"),
        ({"room_subscriptions": {f"!{i}:x": {} for i in range(101)}}, "M_INVALID_PARAM"),
        ({"extensions": {"to_device": {"enabled": "true"}}}, "M_BAD_JSON"),
        ({"extensions": {"to_device": {"enabled": True, "limit": "5"}}}, "M_BAD_JSON"),
        ({"timeout": "5"}, "M_BAD_JSON"),
        ({"txn_id": 5}, "M_BAD_JSON"),
    ],
)
def test_bad_requests(body, errcode):
    with pytest.raises(SlidingSyncRequestError) as raised:
        parse_request(body)
    assert raised.value.errcode == errcode


def test_room_config_equality_detects_changes():
    assert config_of([["m.room.name", ""]]) == config_of([["m.room.name", ""]])
    assert config_of([["m.room.name", ""]]) != config_of([["m.room.topic", ""]])
    assert isinstance(config_of([]), RoomConfig)


@pytest.mark.parametrize(
    "text", ["", "s1_2_3", "t1-2", "ab12_1", "ab12_1_2_3", "AB12_1_2", "ab12_²_2", "ab12_1_-2", "ab12_1_02", f"ab12_1_{2**63}"]
)
def test_pos_parse_rejects(text):
    assert Pos.parse(text) is None


def test_pos_round_trip():
    pos = Pos("0a1b2c3d", 4, 57)
    assert Pos.parse(pos.serialize()) == pos
