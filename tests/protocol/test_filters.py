import orjson
import pytest

from veche.protocol.filters import (
    FilterError,
    parse_filter,
    parse_filter_json,
    parse_room_event_filter,
    project_event_fields,
)

MESSAGE = {
    "type": "m.room.message",
    "sender": "@alice:example.org",
    "room_id": "!room:example.org",
    "content": {"body": "hi", "msgtype": "m.text"},
}


def test_example_from_the_spec_definition():
    # The example filter of data/api/client-server/definitions/sync_filter.yaml's endpoint.
    f = parse_filter(
        {
            "room": {
                "state": {"types": ["m.room.*"], "not_rooms": ["!726s6s6q:example.com"]},
                "timeline": {
                    "limit": 10,
                    "types": ["m.room.message"],
                    "not_rooms": ["!726s6s6q:example.com"],
                    "not_senders": ["@spam:example.com"],
                },
                "ephemeral": {"types": ["m.receipt", "m.typing"], "not_rooms": ["!726s6s6q:example.com"]},
            },
            "presence": {"types": ["m.presence"], "not_senders": ["@alice:example.com"]},
            "event_format": "client",
            "event_fields": ["type", "content", "sender"],
        }
    )
    assert f.room.timeline.limit == 10
    assert f.room.timeline.matches(MESSAGE)
    assert not f.room.timeline.matches({**MESSAGE, "sender": "@spam:example.com"})
    assert not f.room.timeline.matches({**MESSAGE, "room_id": "!726s6s6q:example.com"})
    assert f.room.state.matches({"type": "m.room.name", "sender": "@a:b"})
    assert not f.room.state.matches({"type": "m.call.invite", "sender": "@a:b"})
    assert not f.presence.matches({"type": "m.presence", "sender": "@alice:example.com"})


def test_wildcards_and_precedence():
    f = parse_room_event_filter({"types": ["m.*"], "not_types": ["m.room.member"]})
    assert f.matches({"type": "m.room.message"})
    assert not f.matches({"type": "m.room.member"})
    assert not f.matches({"type": "org.example"})
    # A literal dot or other regex characters in a pattern are not special.
    assert not parse_room_event_filter({"types": ["m.room"]}).matches({"type": "mXroom"})


def test_empty_types_list_matches_nothing():
    assert not parse_room_event_filter({"types": []}).matches(MESSAGE)


def test_contains_url():
    with_url = {**MESSAGE, "content": {"url": "mxc://a/b"}}
    assert parse_room_event_filter({"contains_url": True}).matches(with_url)
    assert not parse_room_event_filter({"contains_url": True}).matches(MESSAGE)
    assert parse_room_event_filter({"contains_url": False}).matches(MESSAGE)


def test_room_filter_lists():
    f = parse_filter({"room": {"rooms": ["!a:x", "!b:x"], "not_rooms": ["!b:x"], "include_leave": True}})
    assert f.room.matches_room("!a:x")
    assert not f.room.matches_room("!b:x")
    assert not f.room.matches_room("!c:x")
    assert f.room.include_leave


@pytest.mark.parametrize(
    "definition",
    [
        [],
        {"event_format": "xml"},
        {"room": {"timeline": {"limit": 0}}},
        {"room": {"timeline": {"limit": "10"}}},
        {"room": {"timeline": {"types": "m.room.message"}}},
        {"room": {"state": {"lazy_load_members": "yes"}}},
        {"presence": {"senders": [1]}},
        {"room": []},
        {"event_fields": ["content."]},
    ],
)
def test_malformed_filters_are_refused(definition):
    with pytest.raises(FilterError):
        parse_filter(definition)


def test_event_fields_projection_with_escapes():
    event = {"content": {"body": "x", "m.relates_to": {"rel_type": "m.replace"}, "a\\b": 1}, "type": "t"}
    assert project_event_fields(event, ["content.body", "type", "missing.key"]) == {
        "content": {"body": "x"},
        "type": "t",
    }
    assert project_event_fields(event, ["content.m\\.relates_to.rel_type"]) == {
        "content": {"m.relates_to": {"rel_type": "m.replace"}}
    }
    assert project_event_fields(event, ["content.a\\\\b"]) == {"content": {"a\\b": 1}}


def test_filter_json_is_parsed_once_and_checked():
    text = '{"room": {"timeline": {"limit": 7}}}'
    assert parse_filter_json(text) is parse_filter_json(text)
    assert parse_filter_json(text).room.timeline.limit == 7
    with pytest.raises(FilterError):
        parse_filter_json('{"room": {"timeline": {"limit": 0}}}')
    with pytest.raises(orjson.JSONDecodeError):
        parse_filter_json("{not json")
