"""Events by ID, mostly kept as their JSON: a parsed event takes about four times the
memory of its JSON (2.2 KB against 0.6 KB for a message), and most cached events are
read once (a page of history) or rarely.

Two tiers: the most recently used events as `Event` objects, ready to use, and many more
as their JSON bytes, parsed again (a couple of microseconds each) when asked for. An
event read from the database enters the JSON tier only, and the parsed tier when it is
asked for again: a page of history read once does not churn the parsed events out (and
their short-lived copies are freed at once rather than scattered through the heap). An
event built here enters the parsed tier, and on leaving it is kept as JSON.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import orjson

from veche.protocol.events import Event
from veche.protocol.room_versions import RoomVersion
from veche.storage.cache import LruCache

# An event as kept in the JSON tier: its JSON, room version and rejection reason.
_Compact = tuple[bytes, RoomVersion, str | None]


class EventCache:
    """At most `max_events` events as JSON plus `max_parsed` as `Event` objects (which
    may also be among the first). Cached events are shared: callers must not modify them."""

    def __init__(self, max_events: int, max_parsed: int) -> None:
        self._compact: LruCache[str, _Compact] = LruCache(max_events)
        self._parsed: OrderedDict[str, Event] = OrderedDict()
        self._max_parsed = max_parsed

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._parsed or event_id in self._compact

    def get(self, event_id: str) -> Event | None:
        event = self._get_parsed(event_id)
        if event is None:
            event = self._parse(event_id)
            if event is not None:
                self._keep_parsed(event)
        return event

    def get_many(self, event_ids: Iterable[str]) -> tuple[dict[str, Event], list[str]]:
        """The cached events, and the IDs that missed.

        A batch with more events in the JSON tier than half the parsed tier holds (an
        initial /sync's thousands) leaves them there: kept parsed, they would push out
        what other readers use, and past the tier's size each other (every event built
        here that is pushed out is encoded to JSON again).
        """
        found: dict[str, Event] = {}
        unparsed: list[str] = []
        for event_id in event_ids:
            event = self._get_parsed(event_id)
            if event is None:
                unparsed.append(event_id)
            else:
                found[event_id] = event
        missing: list[str] = []
        keep = len(unparsed) <= self._max_parsed // 2
        for event_id in unparsed:
            event = self._parse(event_id)
            if event is None:
                missing.append(event_id)
                continue
            found[event_id] = event
            if keep:
                self._keep_parsed(event)
        return found, missing

    def _get_parsed(self, event_id: str) -> Event | None:
        parsed = self._parsed
        try:
            parsed.move_to_end(event_id)
        except KeyError:
            return None
        return parsed[event_id]

    def _parse(self, event_id: str) -> Event | None:
        """The event from the JSON tier, parsed (and not kept parsed)."""
        compact = self._compact.get(event_id)
        if compact is None:
            return None
        raw, room_version, rejected_reason = compact
        return Event(orjson.loads(raw), room_version, event_id, rejected_reason)

    def forget(self, event_ids: Iterable[str]) -> None:
        """Drop events no longer stored (a purged room's)."""
        for event_id in event_ids:
            self._parsed.pop(event_id, None)
            self._compact.pop(event_id)

    def add(self, event: Event, raw: bytes | None = None) -> None:
        """Cache `event`; `raw` is its JSON when at hand (read from the database), and then
        only the JSON is kept until the event is asked for again."""
        if raw is not None:
            self._compact.set(event.event_id, (raw, event.room_version, event.rejected_reason))
        else:
            self._keep_parsed(event)

    def _keep_parsed(self, event: Event) -> None:
        parsed = self._parsed
        parsed[event.event_id] = event
        parsed.move_to_end(event.event_id)
        if len(parsed) > self._max_parsed:
            event_id, oldest = parsed.popitem(last=False)
            if event_id not in self._compact:
                # orjson's output keeps its whole 4 KiB buffer; a copy is the JSON's size.
                raw = memoryview(orjson.dumps(oldest.pdu)).tobytes()
                self._compact.set(event_id, (raw, oldest.room_version, oldest.rejected_reason))
