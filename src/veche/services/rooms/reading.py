"""Reading a room: single events, context, pagination, state and members (spec:
client-server-api/_index.md "Getting events for a room"; rooms.yaml, event_context.yaml,
message_pagination.yaml, room_event_by_timestamp.yaml).

Who may read: a joined user reads everything their history visibility allows, with the
current state. A user who left or was banned reads up to their departure and gets the
state as it was then. Anyone may read a world_readable room (current state). Everyone else
is refused. Timeline events are always filtered through `HistoryVisibility`, and events
of ignored users (not state) are dropped from /messages and /context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from veche.errors import MatrixError, forbidden, not_found
from veche.protocol.events import Event, StateKey
from veche.protocol.filters import RoomEventFilter
from veche.protocol.sliding_sync import Pos
from veche.protocol.visibility import normalize_history_visibility
from veche.services.rooms.serving import EventSerializer, IgnoredUsers, no_ignored_users
from veche.services.rooms.visibility import HISTORY_KEY, HistoryVisibility
from veche.services.streams import InvalidToken, StreamToken
from veche.storage.accounts import TokenInfo
from veche.storage.events import TopologicalToken
from veche.storage.room_history import RoomHistoryStore
from veche.storage.stores import EventStores

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
# Rounds of fetching /messages makes when filters drop events, before it returns a short
# chunk (with an `end` token, so the client carries on).
MAX_FILL_ROUNDS = 5

# Bounds of the topological order, for "from the start" and "from the end".
_FIRST = TopologicalToken(-(2**62), -(2**62))
_LAST = TopologicalToken(2**62, 2**62)

Direction = Literal["b", "f"]


class HistoryFiller(Protocol):
    async def __call__(self, room_id: str, upto_depth: int, below_depth: int | None, limit: int) -> bool:
        """Fetch history missing at or below `upto_depth` (down to `below_depth`; None:
        all the way) from elsewhere; True if the room's timeline gained events."""
        ...


async def _no_history_elsewhere(room_id: str, upto_depth: int, below_depth: int | None, limit: int) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Access:
    """How much of a room a user may read."""

    # The user's departure (leave or ban) and where it sits; None when reading up to now.
    departure: Event | None = None
    departure_position: TopologicalToken | None = None

    def clamp(self, token: TopologicalToken) -> TopologicalToken:
        if self.departure_position is None:
            return token
        return min(token, self.departure_position)


class RoomReader:
    def __init__(
        self,
        *,
        stores: EventStores,
        history: RoomHistoryStore,
        visibility: HistoryVisibility,
        serializer: EventSerializer,
        ignored_users: IgnoredUsers = no_ignored_users,
    ) -> None:
        self._events = stores.events
        self._state = stores.state
        self._rooms = stores.rooms
        self._history = history
        self._visibility = visibility
        self._serializer = serializer
        self._ignored_users = ignored_users
        self._fill_history: HistoryFiller = _no_history_elsewhere

    def use_backfill(self, fill_history: HistoryFiller) -> None:
        """Federation, built after this service, fetches history other servers hold."""
        self._fill_history = fill_history

    # Access

    async def access(self, user_id: str, room_id: str) -> Access:
        """Raises 403 unless the user may read the room."""
        state = await self._state.get_current_state_ids(room_id, ["m.room.member", "m.room.history_visibility"])
        if not state:
            raise forbidden("You are not a member of this room")
        member_id = state.get(("m.room.member", user_id))
        history_id = state.get(HISTORY_KEY)
        events = await self._events.get_events(i for i in (member_id, history_id) if i is not None)
        member = events.get(member_id) if member_id is not None else None
        membership = member.membership if member is not None else None
        if membership == "join":
            return Access()
        history = events[history_id].content.get("history_visibility") if history_id in events else None
        if normalize_history_visibility(history) == "world_readable":
            return Access()
        if member is not None and membership in ("leave", "ban"):
            return Access(member, await self._history.event_position(member.event_id))
        if membership == "invite":
            # An invitee reads what `invited` history shows them; state stays private.
            return Access()
        raise forbidden("You are not a member of this room")

    async def _state_access(self, user_id: str, room_id: str) -> Access:
        access = await self.access(user_id, room_id)
        if access.departure is None and not await self._visibility.may_see_room(user_id, room_id):
            raise forbidden("You are not a member of this room")
        return access

    # Single events

    async def get_event(self, requester: TokenInfo, room_id: str, event_id: str, now_ms: int) -> dict[str, Any]:
        await self.access(requester.user_id, room_id)
        event = await self.visible_event(requester.user_id, room_id, event_id)
        return (await self._serializer.serialize([event], requester=requester, now_ms=now_ms))[0]

    async def visible_event(self, user_id: str, room_id: str, event_id: str) -> Event:
        """The event, if it is in the room and the user may see it; 404 otherwise."""
        event = await self._events.get_event(event_id)
        if event is None or event.room_id != room_id or event.rejected_reason is not None:
            raise not_found("Event not found")
        if not await self._visibility.filter_events_for_user(user_id, [event]):
            raise not_found("Event not found")
        return event

    # /messages

    async def parse_token(self, room_id: str, text: str) -> TopologicalToken:
        """A /messages token (ours, "t…"), a /sync token ("s…") or a sliding sync `pos`
        (MSC4186); 400 if none."""
        if text.startswith("t"):
            try:
                return TopologicalToken.parse(text)
            except ValueError:
                raise MatrixError(400, "M_INVALID_PARAM", f"Invalid pagination token {text!r}") from None
        pos = Pos.parse(text)
        if pos is not None:
            events = pos.events
        else:
            try:
                events = StreamToken.parse(text).events
            except InvalidToken:
                raise MatrixError(400, "M_INVALID_PARAM", f"Invalid pagination token {text!r}") from None
        token = await self._events.get_topological_token_at_stream(room_id, events)
        return token if token is not None else _FIRST

    async def messages(
        self,
        requester: TokenInfo,
        room_id: str,
        *,
        direction: Direction,
        from_token: str | None,
        to_token: str | None,
        limit: int,
        event_filter: RoomEventFilter,
        now_ms: int,
    ) -> dict[str, Any]:
        access = await self.access(requester.user_id, room_id)
        if from_token is not None:
            start = await self.parse_token(room_id, from_token)
        else:
            start = _LAST if direction == "b" else _FIRST
        end = await self.parse_token(room_id, to_token) if to_token is not None else None
        if direction == "b":
            start = access.clamp(start)
        else:
            end = access.clamp(end if end is not None else _LAST)
        if event_filter.limit is not None:
            limit = min(limit, event_filter.limit)

        chunk: list[Event] = []
        position: TopologicalToken | None = start
        rounds = 0
        backfilled = direction == "f"
        while position is not None and len(chunk) < limit and rounds < MAX_FILL_ROUNDS:
            rounds += 1
            page = await self._events.paginate_room_events(room_id, position, direction, limit - len(chunk), end)
            # History this page reaches but this server lacks, fetched once per request.
            below = page.events[-1].depth if page.next_token is not None and page.events else None
            if not backfilled and await self._fill_history(room_id, position.depth, below, limit):
                backfilled = True
                page = await self._events.paginate_room_events(room_id, position, direction, limit - len(chunk), end)
            chunk += await self.keep(requester.user_id, page.events, event_filter)
            position = page.next_token

        response: dict[str, Any] = {
            "start": from_token if from_token is not None else start.serialize(),
            "chunk": await self._serializer.serialize(chunk, requester=requester, now_ms=now_ms),
        }
        if position is not None:
            response["end"] = position.serialize()
        if event_filter.lazy_load_members and chunk:
            members = await self._sender_members(chunk)
            response["state"] = await self._serializer.serialize(
                members, requester=requester, now_ms=now_ms, bundle_aggregations=False
            )
        return response

    async def keep(
        self, user_id: str, events: list[Event], event_filter: RoomEventFilter | None = None
    ) -> list[Event]:
        """The events the user sees, that pass the filter and were not sent by users they ignore."""
        ignored = await self._ignored_users(user_id)
        wanted = [
            e
            for e in events
            if (event_filter is None or event_filter.matches(e.pdu)) and (e.is_state or e.sender not in ignored)
        ]
        return await self._visibility.filter_events_for_user(user_id, wanted)

    async def _sender_members(self, events: list[Event]) -> list[Event]:
        """Each sender's member event as of their event (lazy-loading members)."""
        snapshots = await self._state.get_snapshots_after(e.event_id for e in events)
        member_ids: dict[str, str] = {}
        for event in events:
            if event.sender in member_ids or event.event_id not in snapshots:
                continue
            key: StateKey = ("m.room.member", event.sender)
            picked = await self._state.pick_snapshot_ids(snapshots[event.event_id], (key,))
            if key in picked:
                member_ids[event.sender] = picked[key]
        return await self._events.get_events_in_order(list(dict.fromkeys(member_ids.values())))

    # /context

    async def context(
        self,
        requester: TokenInfo,
        room_id: str,
        event_id: str,
        *,
        limit: int,
        event_filter: RoomEventFilter,
        now_ms: int,
    ) -> dict[str, Any]:
        access = await self.access(requester.user_id, room_id)
        event = await self.visible_event(requester.user_id, room_id, event_id)
        position = await self._history.event_position(event_id)
        if position is None:
            raise not_found("Event not found")
        if event_filter.limit is not None:
            limit = min(limit, event_filter.limit)
        before_page = await self._events.paginate_room_events(
            room_id, TopologicalToken.before(position.depth, position.stream), "b", limit // 2
        )
        after_end = access.clamp(_LAST) if access.departure_position is not None else None
        after_page = await self._events.paginate_room_events(room_id, position, "f", limit - limit // 2, after_end)
        before = await self.keep(requester.user_id, before_page.events, event_filter)
        after = await self.keep(requester.user_id, after_page.events, event_filter)

        last = after[-1] if after else event
        state_ids = await self._state.get_state_ids_after(last.event_id) or {}
        state = await self._events.get_events_in_order(list(state_ids.values()))
        if event_filter.lazy_load_members:
            senders = {e.sender for e in (*before, event, *after)}
            state = [e for e in state if e.type != "m.room.member" or e.state_key in senders]
        serialize = self._serializer.serialize
        # Tokens continue from the edges of what was scanned, filtered out or not.
        start = before_page.next_token or _FIRST
        end = after_page.next_token or (await self._events.get_topological_token_at_stream(
            room_id, self._events.current_stream_token
        )) or position
        return {
            "event": (await serialize([event], requester=requester, now_ms=now_ms))[0],
            "events_before": await serialize(before, requester=requester, now_ms=now_ms),
            "events_after": await serialize(after, requester=requester, now_ms=now_ms),
            "state": await serialize(state, requester=requester, now_ms=now_ms, bundle_aggregations=False),
            "start": start.serialize(),
            "end": end.serialize(),
        }

    # State and members

    async def _readable_state_ids(self, user_id: str, room_id: str) -> dict[StateKey, str]:
        access = await self._state_access(user_id, room_id)
        if access.departure is not None:
            return await self._state.get_state_ids_after(access.departure.event_id) or {}
        return await self._state.get_current_state_ids(room_id)

    async def state(self, requester: TokenInfo, room_id: str, now_ms: int) -> list[dict[str, Any]]:
        state_ids = await self._readable_state_ids(requester.user_id, room_id)
        events = await self._events.get_events_in_order(list(state_ids.values()))
        return await self._serializer.serialize(events, requester=requester, now_ms=now_ms, bundle_aggregations=False)

    async def state_event(
        self, requester: TokenInfo, room_id: str, event_type: str, state_key: str, now_ms: int
    ) -> dict[str, Any]:
        """The served event; callers wanting only `content` take that key."""
        state_ids = await self._readable_state_ids(requester.user_id, room_id)
        event_id = state_ids.get((event_type, state_key))
        event = await self._events.get_event(event_id) if event_id is not None else None
        if event is None:
            raise not_found(f"No {event_type} state with key {state_key!r} in this room")
        served = await self._serializer.serialize([event], requester=requester, now_ms=now_ms, bundle_aggregations=False)
        return served[0]

    async def members(
        self,
        requester: TokenInfo,
        room_id: str,
        *,
        at: str | None,
        membership: str | None,
        not_membership: str | None,
        now_ms: int,
    ) -> list[dict[str, Any]]:
        access = await self._state_access(requester.user_id, room_id)
        if at is not None:
            position = access.clamp(await self.parse_token(room_id, at))
            page = await self._events.paginate_room_events(room_id, position, "b", 1)
            state_ids = await self._state.get_state_ids_after(page.events[0].event_id) if page.events else {}
        elif access.departure is not None:
            state_ids = await self._state.get_state_ids_after(access.departure.event_id)
        else:
            state_ids = await self._state.get_current_state_ids(room_id, ["m.room.member"])
        member_ids = [i for (t, _), i in (state_ids or {}).items() if t == "m.room.member"]
        events = await self._events.get_events_in_order(member_ids)
        events = [
            e
            for e in events
            if (membership is None or e.membership == membership)
            and (not_membership is None or e.membership != not_membership)
        ]
        return await self._serializer.serialize(events, requester=requester, now_ms=now_ms, bundle_aggregations=False)

    async def joined_members(self, requester: TokenInfo, room_id: str) -> dict[str, dict[str, Any]]:
        state_ids = await self._readable_state_ids(requester.user_id, room_id)
        events = await self._events.get_events(i for (t, _), i in state_ids.items() if t == "m.room.member")
        return {
            e.state_key: _profile(e.content)
            for e in events.values()
            if e.membership == "join" and e.state_key is not None
        }

    # /timestamp_to_event

    async def timestamp_to_event(
        self, requester: TokenInfo, room_id: str, ts: int, direction: Direction
    ) -> dict[str, Any]:
        await self.access(requester.user_id, room_id)
        found = await self._history.event_at_timestamp(room_id, ts, direction)
        if found is None:
            raise not_found(f"No event found {'after' if direction == 'f' else 'before'} {ts}")
        event = await self._events.get_event(found[0])
        if event is None or not await self._visibility.filter_events_for_user(requester.user_id, [event]):
            raise not_found(f"No visible event found {'after' if direction == 'f' else 'before'} {ts}")
        return {"event_id": found[0], "origin_server_ts": found[1]}


def _profile(content: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in (("display_name", content.get("displayname")), ("avatar_url", content.get("avatar_url")))
        if isinstance(value, str)
    }

