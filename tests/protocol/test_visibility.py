import pytest

from veche.protocol.events import Event
from veche.protocol.room_versions import get_room_version
from veche.protocol.visibility import is_event_visible, normalize_history_visibility

V = get_room_version("10")
BOB = "@bob:hs"


def event(type_="m.room.message", state_key=None, content=None):
    pdu = {"type": type_, "sender": "@alice:hs", "room_id": "!r:hs", "content": content or {}}
    if state_key is not None:
        pdu["state_key"] = state_key
    return Event(pdu, V, "$e")


@pytest.mark.parametrize(
    "visibility, membership, joined_after, expected",
    [
        ("world_readable", None, False, True),
        ("joined", "join", False, True),
        ("joined", "invite", True, False),
        ("shared", None, True, True),
        ("shared", "leave", False, False),
        ("invited", "invite", False, True),
        ("invited", "leave", True, False),
        ("joined", None, True, False),
    ],
)
def test_rules_in_order(visibility, membership, joined_after, expected):
    assert is_event_visible(BOB, event(), visibility, membership, joined_after) is expected


def test_unknown_or_missing_visibility_is_shared():
    assert normalize_history_visibility(None) == "shared"
    assert normalize_history_visibility("bogus") == "shared"
    assert is_event_visible(BOB, event(), None, None, True)


def test_history_visibility_change_visible_if_before_or_after_allows():
    opening = event("m.room.history_visibility", "", {"history_visibility": "world_readable"})
    closing = event("m.room.history_visibility", "", {"history_visibility": "joined"})
    assert is_event_visible(BOB, opening, "joined", None, False)
    assert is_event_visible(BOB, closing, "world_readable", None, False)


def test_own_membership_visible_if_before_or_after_allows():
    join = event("m.room.member", BOB, {"membership": "join"})
    assert is_event_visible(BOB, join, "joined", None, False)
    someone_else = event("m.room.member", "@carol:hs", {"membership": "join"})
    assert not is_event_visible(BOB, someone_else, "joined", None, False)
