"""Server-side search (client-server-api/modules/search.md, search.yaml): `room_events`.

The index (storage/search.py) finds candidate events in the rooms the user has been in;
each page is then cut down to what the user may see (history visibility), what the filter
asks for, and what no applied redaction has erased, continuing through the index until the
page is full. `next_batch` names the last candidate looked at, so the next page carries on
from there whatever was dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from veche.errors import MatrixError, invalid_param, missing_param
from veche.protocol.events import Event
from veche.protocol.filters import FilterError, RoomEventFilter, parse_room_event_filter
from veche.services.rooms.serving import EventSerializer
from veche.services.rooms.visibility import HistoryVisibility
from veche.storage.accounts import TokenInfo
from veche.storage.events import TopologicalToken
from veche.storage.room_history import RoomHistoryStore
from veche.storage.search import SEARCHED_TYPES, Cursor, SearchHit, SearchIndex, search_terms
from veche.storage.stores import EventStores

SEARCH_KEYS = ("content.body", "content.name", "content.topic")
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_CONTEXT = 5
MAX_CONTEXT = 100
GROUP_KEYS = ("room_id", "sender")
INDEX_DELAY_SECONDS = 1.0
# Rooms a user has been in (search.md: "including those that they have left").
_SEARCHED_MEMBERSHIPS = ("join", "leave", "ban")


class SearchService:
    def __init__(
        self,
        *,
        index: SearchIndex,
        stores: EventStores,
        history: RoomHistoryStore,
        visibility: HistoryVisibility,
        serializer: EventSerializer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._index = index
        self._events = stores.events
        self._state = stores.state
        self._rooms = stores.rooms
        self._history = history
        self._visibility = visibility
        self._serializer = serializer
        self._clock = clock
        self._indexing: set[asyncio.Task[None]] = set()

    async def on_event(self, event: Event, stream_ordering: int) -> None:
        """after_persist hook: keep the index warm, and purge what a redaction erased."""
        if event.type in SEARCHED_TYPES and not self._indexing:
            task = asyncio.ensure_future(self._index_soon())
            self._indexing.add(task)
            task.add_done_callback(self._indexing.discard)
        if event.type == "m.room.redaction" and event.redacts is not None:
            target = await self._events.get_event(event.redacts)
            if target is not None and target.room_id == event.room_id:
                if target.event_id in await self._serializer.applied_redactions([target]):
                    await self._index.remove([target.event_id])

    async def _index_soon(self) -> None:
        # A short wait gathers a burst of messages into one index transaction instead of
        # one each; a search catches up first anyway, so results are never stale.
        await asyncio.sleep(INDEX_DELAY_SECONDS)
        await self._index.catch_up()

    async def stop(self) -> None:
        for task in list(self._indexing):
            task.cancel()
        await asyncio.gather(*list(self._indexing), return_exceptions=True)

    async def search(self, requester: TokenInfo, body: Any, next_batch: str | None) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("search_categories"), dict):
            raise missing_param("search_categories is required")
        categories = body["search_categories"]
        result: dict[str, Any] = {}
        if "room_events" in categories:
            result["room_events"] = await self._room_events(requester, categories["room_events"], next_batch)
        return {"search_categories": result}

    async def _room_events(self, requester: TokenInfo, criteria: Any, next_batch: str | None) -> dict[str, Any]:
        if not isinstance(criteria, dict):
            raise invalid_param("room_events must be an object")
        term = criteria.get("search_term")
        if not isinstance(term, str):
            raise missing_param("search_term is required")
        keys = criteria.get("keys", list(SEARCH_KEYS))
        if not isinstance(keys, list) or any(k not in SEARCH_KEYS for k in keys):
            raise invalid_param(f"keys must be a list of {', '.join(SEARCH_KEYS)}")
        order_by = criteria.get("order_by", "rank")
        if order_by not in ("rank", "recent"):
            raise invalid_param("order_by must be 'rank' or 'recent'")
        try:
            event_filter = parse_room_event_filter(criteria.get("filter") or {}, "filter")
        except FilterError as e:
            raise MatrixError(400, "M_BAD_JSON", str(e)) from None
        group_keys = _group_keys(criteria.get("groupings"))
        context = criteria.get("event_context")
        if context is not None and not isinstance(context, dict):
            raise invalid_param("event_context must be an object")
        by_rank = order_by == "rank"
        after = _parse_batch(next_batch, by_rank)
        limit = min(event_filter.limit or DEFAULT_LIMIT, MAX_LIMIT)

        user_id = requester.user_id
        room_ids = await self._searchable_rooms(user_id, event_filter)
        hits, events, last = await self._page(user_id, room_ids, term, keys, by_rank, after, limit, event_filter)
        now_ms = int(self._clock() * 1000)
        served = await self._serializer.serialize(events, requester=requester, now_ms=now_ms)
        results = []
        for hit, event, client_event in zip(hits, events, served):
            entry: dict[str, Any] = {"rank": hit.rank, "result": client_event}
            if context is not None:
                entry["context"] = await self._context(requester, event, context, now_ms)
            results.append(entry)
        response: dict[str, Any] = {
            "count": await self._index.count(room_ids, term, keys=keys),
            "highlights": sorted(set(search_terms(term))),
            "results": results,
        }
        if last is not None:
            response["next_batch"] = _batch_token(last, by_rank)
        if criteria.get("include_state") is True:
            response["state"] = await self._room_states(requester, {e.room_id for e in events}, now_ms)
        if group_keys:
            response["groups"] = _groups(group_keys, events)
        return response

    async def _searchable_rooms(self, user_id: str, event_filter: RoomEventFilter) -> list[str]:
        memberships = await self._rooms.get_memberships_for_user(user_id, _SEARCHED_MEMBERSHIPS)
        rooms = []
        for m in memberships:
            if not event_filter.matches_room(m.room_id):
                continue
            # search.md: rooms that are end-to-end encrypted are not searched.
            if await self._events.get_current_state_event(m.room_id, "m.room.encryption") is not None:
                continue
            rooms.append(m.room_id)
        return rooms

    async def _page(
        self,
        user_id: str,
        room_ids: list[str],
        term: str,
        keys: list[str],
        by_rank: bool,
        after: Cursor | None,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> tuple[list[SearchHit], list[Event], Cursor | None]:
        """Up to `limit` visible matches, and the cursor after the last one if there may be more."""
        kept_hits: list[SearchHit] = []
        kept_events: list[Event] = []
        cursor = after
        while len(kept_hits) < limit:
            batch = await self._index.search(
                room_ids, term, keys=keys, order_by_rank=by_rank, after=cursor, limit=limit * 2
            )
            if not batch:
                return kept_hits, kept_events, None
            loaded = await self._events.get_events(h.event_id for h in batch)
            candidates = [loaded[h.event_id] for h in batch if h.event_id in loaded]
            visible = {e.event_id for e in await self._visibility.filter_events_for_user(user_id, candidates)}
            redacted = await self._serializer.applied_redactions([loaded[i] for i in visible])
            for hit in batch:
                cursor = Cursor(hit.rank if by_rank else None, hit.stream_ordering)
                event = loaded.get(hit.event_id)
                if event is None or hit.event_id not in visible or hit.event_id in redacted:
                    continue
                if not event_filter.matches(event.pdu):
                    continue
                kept_hits.append(hit)
                kept_events.append(event)
                if len(kept_hits) == limit:
                    break
            if len(batch) < limit * 2 and len(kept_hits) < limit:
                return kept_hits, kept_events, None
        return kept_hits, kept_events, cursor

    async def _context(
        self, requester: TokenInfo, event: Event, options: dict[str, Any], now_ms: int
    ) -> dict[str, Any]:
        before_limit = _context_limit(options, "before_limit")
        after_limit = _context_limit(options, "after_limit")
        position = await self._history.event_position(event.event_id)
        if position is None:
            return {}
        before_page = await self._events.paginate_room_events(
            event.room_id, TopologicalToken.before(position.depth, position.stream), "b", before_limit
        )
        after_page = await self._events.paginate_room_events(event.room_id, position, "f", after_limit)
        user_id = requester.user_id
        before = await self._visibility.filter_events_for_user(user_id, before_page.events)
        after = await self._visibility.filter_events_for_user(user_id, after_page.events)
        serialize = self._serializer.serialize
        context: dict[str, Any] = {
            "events_before": await serialize(before, requester=requester, now_ms=now_ms),
            "events_after": await serialize(after, requester=requester, now_ms=now_ms),
        }
        if before_page.next_token is not None:
            context["start"] = before_page.next_token.serialize()
        if after_page.next_token is not None:
            context["end"] = after_page.next_token.serialize()
        if options.get("include_profile") is True:
            context["profile_info"] = await self._profiles(event, [*before, event, *after])
        return context

    async def _profiles(self, anchor: Event, events: list[Event]) -> dict[str, dict[str, Any]]:
        """Each sender's display name and avatar at the result event (search.yaml profile_info)."""
        state = await self._state.get_state_ids_after(anchor.event_id) or {}
        senders = {e.sender for e in events}
        member_ids = {s: state[("m.room.member", s)] for s in senders if ("m.room.member", s) in state}
        members = await self._events.get_events(member_ids.values())
        profiles: dict[str, dict[str, Any]] = {}
        for sender, member_id in member_ids.items():
            member = members.get(member_id)
            if member is None:
                continue
            profile = {k: member.content[k] for k in ("displayname", "avatar_url") if isinstance(member.content.get(k), str)}
            profiles[sender] = profile
        return profiles

    async def _room_states(self, requester: TokenInfo, room_ids: set[str], now_ms: int) -> dict[str, list[dict[str, Any]]]:
        """Current state of the result rooms the user is still joined to (include_state)."""
        joined = set(await self._rooms.get_rooms_for_user(requester.user_id))
        states: dict[str, list[dict[str, Any]]] = {}
        for room_id in sorted(room_ids & joined):
            state = await self._events.get_current_state(room_id)
            states[room_id] = await self._serializer.serialize(
                list(state.values()), requester=requester, now_ms=now_ms, bundle_aggregations=False
            )
        return states


def _group_keys(groupings: Any) -> list[str]:
    if groupings is None:
        return []
    group_by = groupings.get("group_by") if isinstance(groupings, dict) else None
    if not isinstance(group_by, list):
        raise invalid_param("groupings.group_by must be a list")
    keys = []
    for group in group_by:
        key = group.get("key") if isinstance(group, dict) else None
        if key not in GROUP_KEYS:
            raise invalid_param(f"Unknown group key {key!r}")
        keys.append(key)
    return keys


def _groups(keys: list[str], events: list[Event]) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for key in keys:
        by_value: dict[str, dict[str, Any]] = {}
        for event in events:
            value = event.room_id if key == "room_id" else event.sender
            group = by_value.setdefault(value, {"results": [], "order": len(by_value) + 1})
            group["results"].append(event.event_id)
        groups[key] = by_value
    return groups


def _context_limit(options: dict[str, Any], name: str) -> int:
    value = options.get(name, DEFAULT_CONTEXT)
    if type(value) is not int or value < 0:
        raise invalid_param(f"event_context.{name} must be a non-negative integer")
    return min(value, MAX_CONTEXT)


def _batch_token(cursor: Cursor, by_rank: bool) -> str:
    if by_rank:
        return f"r{cursor.rank!r}_{cursor.stream_ordering}"
    return f"s{cursor.stream_ordering}"


def _parse_batch(token: str | None, by_rank: bool) -> Cursor | None:
    if token is None:
        return None
    try:
        if by_rank and token.startswith("r"):
            rank, stream = token[1:].rsplit("_", 1)
            return Cursor(float(rank), int(stream))
        if not by_rank and token.startswith("s"):
            return Cursor(None, int(token[1:]))
    except ValueError:
        pass
    raise invalid_param("Invalid next_batch token")
