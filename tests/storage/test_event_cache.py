"""EventCache: recent events parsed, the rest as JSON, parsed again when asked for."""

from __future__ import annotations

import orjson

from veche.protocol.events import Event
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS
from veche.storage.event_cache import EventCache

_V10 = KNOWN_ROOM_VERSIONS["10"]


def _event(n: int, rejected_reason: str | None = None) -> Event:
    pdu = {"type": "m.room.message", "sender": "@a:hs", "content": {"body": f"m{n}"}, "depth": n}
    return Event(pdu, _V10, f"$e{n}", rejected_reason)


def test_recent_events_are_the_same_objects() -> None:
    cache = EventCache(max_events=10, max_parsed=2)
    built = _event(1)
    cache.add(built)
    assert cache.get("$e1") is built
    read = _event(2)
    cache.add(read, orjson.dumps(read.pdu))
    # Read from the database: kept as JSON, parsed when asked for, then kept parsed.
    again = cache.get("$e2")
    assert again is not None and again is not read and again.pdu == read.pdu
    assert cache.get("$e2") is again


def test_events_past_the_parsed_tier_come_back_equal() -> None:
    cache = EventCache(max_events=10, max_parsed=1)
    read = _event(1, "auth_error")
    cache.add(read, orjson.dumps(read.pdu))
    built = _event(2)  # persisted here: no JSON at hand, kept as JSON once pushed out
    cache.add(built)
    cache.add(_event(3), orjson.dumps(_event(3).pdu))
    for original in (read, built):
        again = cache.get(original.event_id)
        assert again is not None and again is not original
        assert (again.pdu, again.event_id, again.rejected_reason, again.room_version) == (
            original.pdu, original.event_id, original.rejected_reason, original.room_version
        )


def test_bounded_by_events_kept_as_json() -> None:
    cache = EventCache(max_events=2, max_parsed=1)
    for n in range(1, 4):
        event = _event(n)
        cache.add(event, orjson.dumps(event.pdu))
    assert "$e1" not in cache and "$e2" in cache and "$e3" in cache
    assert cache.get_many(["$e1", "$e2", "$e3"])[1] == ["$e1"]


def test_a_bulk_read_leaves_its_json_events_unparsed_in_the_cache() -> None:
    cache = EventCache(max_events=20, max_parsed=4)
    built = [_event(n) for n in range(1, 5)]
    for event in built:
        cache.add(event)
    read = [_event(n) for n in range(5, 10)]
    for event in read:
        cache.add(event, orjson.dumps(event.pdu))

    found, missing = cache.get_many([e.event_id for e in read] + ["$none"])

    assert missing == ["$none"]
    assert [found[e.event_id].pdu for e in read] == [e.pdu for e in read]
    # Five JSON-tier events are more than half the parsed tier: the parsed ones stay.
    assert all(cache.get(e.event_id) is e for e in built)
    assert cache.get_many(["$e5", "$e6"])[0]["$e5"] is not found["$e5"]
    # A small batch is kept parsed, as `get` does.
    small, _ = cache.get_many(["$e7", "$e8"])
    assert cache.get("$e7") is small["$e7"]
