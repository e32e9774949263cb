"""The `rooms` section of a /sync response, one room at a time.

A room's timeline is the newest events in (since, now]; its `state` is what the client
lacks at the start of that timeline: everything on an initial sync or a fresh join, the
changes across the gap when the timeline is `limited`, and nothing otherwise (state
changes then arrive in the timeline itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from veche.protocol.events import Event, StateKey
from veche.protocol.filters import Filter
from veche.services.streams import Stream, StreamToken
from veche.storage.accounts import TokenInfo
from veche.storage.events import TopologicalToken
from veche.storage.room_summaries import MemberSummary, RoomSummaryStore
from veche.storage.rooms import Membership
from veche.storage.stores import EventStores

Serialize = Callable[..., Awaitable[list[dict[str, Any]]]]
VisibilityFilter = Callable[[str, list[Event]], Awaitable[list[Event]]]
ForgottenRooms = Callable[[str], Awaitable[set[str]]]
IgnoredUsers = Callable[[str], Awaitable[frozenset[str]]]

DEFAULT_TIMELINE_LIMIT = 10
MAX_TIMELINE_LIMIT = 100
HERO_COUNT = 5

# What an invite or knock shows of the room (client-server-api "Stripped state").
STRIPPED_STATE_TYPES = (
    "m.room.create",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.join_rules",
    "m.room.canonical_alias",
    "m.room.encryption",
)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    requester: TokenInfo
    since: StreamToken | None
    now: StreamToken
    filter: Filter
    full_state: bool
    use_state_after: bool
    now_ms: int
    memberships: tuple[Membership, ...]
    # Streams on which nothing concerning the user moved in (since, now]: their
    # sections have nothing to add.
    quiet: frozenset[Stream] = frozenset()

    @property
    def joined_room_ids(self) -> list[str]:
        return [m.room_id for m in self.memberships if m.membership == "join"]

    @property
    def user_id(self) -> str:
        return self.requester.user_id

    @property
    def timeline_limit(self) -> int:
        limit = self.filter.room.timeline.limit or DEFAULT_TIMELINE_LIMIT
        return min(limit, MAX_TIMELINE_LIMIT)


class RoomSync:
    def __init__(
        self,
        *,
        stores: EventStores,
        summaries: RoomSummaryStore,
        serialize: Serialize,
        visible_to: VisibilityFilter,
        forgotten_rooms: ForgottenRooms,
        ignored_users: IgnoredUsers,
    ) -> None:
        self._stores = stores
        self._summaries = summaries
        self._serialize = serialize
        self._visible_to = visible_to
        self._forgotten_rooms = forgotten_rooms
        self._ignored_users = ignored_users

    async def sync_rooms(self, request: SyncRequest) -> dict[str, Any]:
        since_pos = request.since.events if request.since is not None else 0
        initial = request.since is None or request.full_state
        room_filter = request.filter.room
        joined, invited, knocked, left = [], [], [], []
        for m in request.memberships:
            if not room_filter.matches_room(m.room_id):
                continue
            if m.membership == "join":
                joined.append(m)
            elif m.stream_ordering <= since_pos and not initial:
                continue
            elif m.membership == "invite":
                invited.append(m)
            elif m.membership == "knock":
                knocked.append(m)
            elif room_filter.include_leave or not initial:
                left.append(m)
        if left:
            # A forgotten room no longer appears in the leave section (spec: /forget).
            forgotten = await self._forgotten_rooms(request.user_id)
            left = [m for m in left if m.room_id not in forgotten]
        ignored = await self._ignored_users(request.user_id)
        if invited and ignored:
            # ignore_users.md: servers must not send invites from ignored users.
            invites = await self._stores.events.get_events([m.event_id for m in invited])
            invited = [m for m in invited if m.event_id not in invites or invites[m.event_id].sender not in ignored]

        active = joined if initial else await self._rooms_with_news(joined, since_pos, request.now.events)
        sections: dict[str, Any] = {"join": {}, "invite": {}, "leave": {}, "knock": {}}
        # Summaries cost queries: read them up front only where every room needs one
        # (initial sync) or lazy loading needs the heroes; otherwise only for the rooms
        # whose members changed.
        summaries: dict[str, MemberSummary] = {}
        if active and (initial or room_filter.state.lazy_load_members):
            summaries = await self._summaries.member_summaries([m.room_id for m in active])
        wants_summary = []
        for m in active:
            newly_joined = initial or m.stream_ordering > since_pos
            room, member_change = await self._joined_room(
                request, m, since_pos, request.now.events, newly_joined, summaries.get(m.room_id), ignored
            )
            sections["join"][m.room_id] = room
            if newly_joined or member_change:
                wants_summary.append(m.room_id)
        missing = [r for r in wants_summary if r not in summaries]
        if missing:
            summaries.update(await self._summaries.member_summaries(missing))
        for room_id in wants_summary:
            if room_id in summaries:
                sections["join"][room_id]["summary"] = _summary(summaries[room_id], request.user_id)
        for m in invited:
            sections["invite"][m.room_id] = {"invite_state": {"events": await self._stripped_state(m)}}
        for m in knocked:
            sections["knock"][m.room_id] = {"knock_state": {"events": await self._stripped_state(m)}}
        for m in left:
            sections["leave"][m.room_id] = await self._left_room(request, m, since_pos)
        return sections

    async def _rooms_with_news(self, joined: list[Membership], since_pos: int, now_pos: int) -> list[Membership]:
        with_events = await self._stores.events.get_rooms_with_events([m.room_id for m in joined], since_pos, now_pos)
        return [m for m in joined if m.room_id in with_events or m.stream_ordering > since_pos]

    async def _joined_room(
        self,
        request: SyncRequest,
        membership: Membership,
        since_pos: int,
        now_pos: int,
        full_state: bool,
        summary: MemberSummary | None,
        ignored: frozenset[str],
    ) -> tuple[dict[str, Any], bool]:
        """The room's section, and whether its membership changed in it."""
        room_id = membership.room_id
        timeline_filter = request.filter.room.timeline
        from_pos = 0 if full_state and request.since is None else since_pos
        recent = await self._stores.events.get_recent_room_events(room_id, from_pos, now_pos, request.timeline_limit)
        events = await self._visible_to(request.user_id, recent.events)
        # Ignored users' messages are dropped; their state events are still sent (ignore_users.md).
        timeline = [
            e for e in events if timeline_filter.matches(e.pdu) and (e.is_state or e.sender not in ignored)
        ]
        limited = recent.limited or (full_state and request.since is not None)

        state_at_start = await self._state_before(room_id, recent.events)
        event_at_since = None
        if not full_state:
            event_at_since = (await self._stores.events.get_latest_event_ids_at([room_id], since_pos)).get(room_id)
        if full_state or event_at_since is None:
            client_had: Mapping[StateKey, str] = {}
        elif limited:
            client_had = await self._stores.state.get_state_ids_after(event_at_since) or {}
        else:
            client_had = state_at_start
        if request.use_state_after:
            state_end = await self._stores.state.get_current_state_ids(room_id)
            if not full_state and not limited and event_at_since is not None:
                client_had = await self._stores.state.get_state_ids_after(event_at_since) or {}
            state_key = "state_after"
            wanted = _state_delta(state_end, client_had)
        else:
            state_key = "state"
            wanted = _state_delta(state_at_start, client_had)
        wanted = self._filter_state(request, wanted, timeline, summary)
        state_events = await self._stores.events.get_events_in_order(list(wanted.values()))

        prev_batch = recent.prev_batch or TopologicalToken(0, now_pos)
        room: dict[str, Any] = {
            "timeline": {
                "events": await self._serialize(timeline, requester=request.requester, include_room_id=False, now_ms=request.now_ms),
                "limited": limited,
                "prev_batch": prev_batch.serialize(),
            },
            state_key: {
                "events": await self._serialize(state_events, requester=request.requester, include_room_id=False, now_ms=request.now_ms)
            },
            "ephemeral": {"events": []},
            "account_data": {"events": []},
        }
        return room, _has_member_change(timeline, state_events)

    async def _state_before(self, room_id: str, timeline: list[Event]) -> dict[StateKey, str]:
        """The room state just before the first timeline event (the current state if none)."""
        if not timeline:
            return await self._stores.state.get_current_state_ids(room_id)
        first = timeline[0]
        after_first = await self._stores.state.get_state_ids_after(first.event_id)
        if after_first is None:
            return await self._stores.state.get_current_state_ids(room_id)
        if not first.is_state:
            return after_first
        # A state event changed its own key: the state before it is the state after its
        # (first) prev event, or, for the create event, nothing.
        prev_ids = first.prev_event_ids
        if prev_ids:
            before = await self._stores.state.get_state_ids_after(prev_ids[0])
            if before is not None:
                return before
        return {key: event_id for key, event_id in after_first.items() if key != first.state_tuple}

    def _filter_state(
        self,
        request: SyncRequest,
        state: dict[StateKey, str],
        timeline: list[Event],
        summary: MemberSummary | None,
    ) -> dict[StateKey, str]:
        state_filter = request.filter.room.state
        kept = {
            key: event_id
            for key, event_id in state.items()
            if state_filter.matches_type_and_sender(key[0], None)
        }
        if not state_filter.lazy_load_members:
            return kept
        needed = {e.sender for e in timeline} | {request.user_id}
        if summary is not None:
            needed.update(u for u, _ in summary.members_in_order[: HERO_COUNT + 1])
        return {
            key: event_id for key, event_id in kept.items() if key[0] != "m.room.member" or key[1] in needed
        }

    async def _stripped_state(self, membership: Membership) -> list[dict[str, Any]]:
        """What an invite or knock shows of the room: the stripped state the resident server
        sent with it for a room this server does not hold (kept in the member event's
        `unsigned`), otherwise this server's current state of the room."""
        own = await self._stores.events.get_event(membership.event_id)
        carried = (own.pdu.get("unsigned") or {}).get(f"{membership.membership}_room_state") if own else None
        if isinstance(carried, list):
            stripped = [
                e for e in carried
                if isinstance(e, dict) and not (e.get("type") == "m.room.member" and e.get("state_key") == own.state_key)
            ]
        else:
            state = await self._stores.events.get_current_state(membership.room_id, STRIPPED_STATE_TYPES)
            stripped = [
                {"type": e.type, "state_key": e.state_key, "content": e.content, "sender": e.sender}
                for key, e in state.items()
                if key[1] == ""
            ]
        if own is not None:
            stripped.append(
                {"type": own.type, "state_key": own.state_key, "content": own.content, "sender": own.sender,
                 "event_id": own.event_id, "origin_server_ts": own.origin_server_ts}
            )
        return stripped

    async def _left_room(self, request: SyncRequest, membership: Membership, since_pos: int) -> dict[str, Any]:
        """A room the user left: its timeline up to and including their leave."""
        until = membership.stream_ordering
        recent = await self._stores.events.get_recent_room_events(
            membership.room_id, since_pos, until, request.timeline_limit
        )
        events = await self._visible_to(request.user_id, recent.events)
        state_at_start = await self._state_before(membership.room_id, recent.events)
        state_events = await self._stores.events.get_events_in_order(
            list(self._filter_state(request, state_at_start, events, None).values())
        )
        prev_batch = recent.prev_batch or TopologicalToken(0, until)
        return {
            "timeline": {
                "events": await self._serialize(events, requester=request.requester, include_room_id=False, now_ms=request.now_ms),
                "limited": recent.limited,
                "prev_batch": prev_batch.serialize(),
            },
            "state": {
                "events": await self._serialize(state_events, requester=request.requester, include_room_id=False, now_ms=request.now_ms)
            },
            "account_data": {"events": []},
        }


def empty_joined_room(now: StreamToken) -> dict[str, Any]:
    """A joined room with nothing new in its timeline, to carry ephemeral or account data."""
    return {
        "timeline": {"events": [], "limited": False, "prev_batch": now.serialize()},
        "state": {"events": []},
        "ephemeral": {"events": []},
        "account_data": {"events": []},
    }


def _state_delta(state: Mapping[StateKey, str], client_had: Mapping[StateKey, str]) -> dict[StateKey, str]:
    return {key: event_id for key, event_id in state.items() if client_had.get(key) != event_id}


def _has_member_change(timeline: list[Event], state: list[Event]) -> bool:
    return any(e.type == "m.room.member" for e in timeline) or any(e.type == "m.room.member" for e in state)


def _summary(summary: MemberSummary, user_id: str) -> dict[str, Any]:
    heroes = [u for u, _ in summary.members_in_order if u != user_id][:HERO_COUNT]
    return {
        "m.heroes": heroes,
        "m.joined_member_count": summary.joined_count,
        "m.invited_member_count": summary.invited_count,
    }
