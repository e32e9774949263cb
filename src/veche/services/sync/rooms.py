"""The `rooms` section of a /sync response, one room at a time.

A room's timeline is the newest events in (since, now]; its `state` is what the client
lacks at the start of that timeline: everything on an initial sync or a fresh join, the
changes across the gap when the timeline is `limited`, and nothing otherwise (state
changes then arrive in the timeline itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

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


class InvitePermission(Protocol):
    """Whose invites are held back (modules/invite_permission.md): AccountDataService."""

    async def invites_blocked(self, user_id: str) -> bool: ...

    def invites_unblocked_at(self, user_id: str) -> int | None: ...

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
        invite_permission: InvitePermission | None = None,
    ) -> None:
        self._stores = stores
        self._summaries = summaries
        self._serialize = serialize
        self._visible_to = visible_to
        self._forgotten_rooms = forgotten_rooms
        self._ignored_users = ignored_users
        self._invite_permission = invite_permission

    async def sync_rooms(self, request: SyncRequest) -> dict[str, Any]:
        since_pos = request.since.events if request.since is not None else 0
        initial = request.since is None or request.full_state
        room_filter = request.filter.room
        joined, invited, knocked, left = [], [], [], []
        invites_released = self._invites_released(request)
        for m in request.memberships:
            if not room_filter.matches_room(m.room_id):
                continue
            if m.membership == "join":
                joined.append(m)
            elif m.membership == "invite" and invites_released:
                invited.append(m)
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
        if invited and self._invite_permission and await self._invite_permission.invites_blocked(request.user_id):
            # invite_permission.md: a user's invites are not served while they block them.
            invited = []
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
        rooms = await self._joined_rooms(request, active, since_pos, summaries, ignored)
        wants_summary = []
        for m in active:
            room, member_change = rooms[m.room_id]
            sections["join"][m.room_id] = room
            if initial or m.stream_ordering > since_pos or member_change:
                wants_summary.append(m.room_id)
        missing = [r for r in wants_summary if r not in summaries]
        if missing:
            summaries.update(await self._summaries.member_summaries(missing))
        for room_id in wants_summary:
            if room_id in summaries:
                sections["join"][room_id]["summary"] = _summary(summaries[room_id], request.user_id)
        for m in invited:
            sections["invite"][m.room_id] = {"invite_state": {"events": await self.stripped_state(m)}}
        for m in knocked:
            sections["knock"][m.room_id] = {"knock_state": {"events": await self.stripped_state(m)}}
        for m in left:
            sections["leave"][m.room_id] = await self._left_room(request, m, since_pos)
        return sections

    def _invites_released(self, request: SyncRequest) -> bool:
        """Whether the user stopped blocking invites in (since, now]: the invites held back
        meanwhile are served again, however old (invite_permission.md allows it)."""
        if request.since is None or self._invite_permission is None:
            return False
        lifted = self._invite_permission.invites_unblocked_at(request.user_id)
        return lifted is not None and request.since.account_data < lifted <= request.now.account_data

    async def _rooms_with_news(self, joined: list[Membership], since_pos: int, now_pos: int) -> list[Membership]:
        with_events = await self._stores.events.get_rooms_with_events([m.room_id for m in joined], since_pos, now_pos)
        return [m for m in joined if m.room_id in with_events or m.stream_ordering > since_pos]

    async def _joined_rooms(
        self,
        request: SyncRequest,
        memberships: list[Membership],
        since_pos: int,
        summaries: Mapping[str, MemberSummary],
        ignored: frozenset[str],
    ) -> dict[str, tuple[dict[str, Any], bool]]:
        """Each room's section, and whether its membership changed in it.

        Every read is made once for all the rooms (timelines, visibility, states, events,
        serialisation), so an initial sync of many rooms costs a few queries, not a few
        per room. A room the user joined after `since` (every room on an initial sync or
        with `full_state`) gets its full state.
        """
        if not memberships:
            return {}
        now_pos = request.now.events
        from_pos = 0 if request.since is None else since_pos
        initial = request.since is None or request.full_state
        room_ids = [m.room_id for m in memberships]
        full = {m.room_id for m in memberships if initial or m.stream_ordering > since_pos}
        recents = await self._stores.events.get_recent_events_for_rooms(
            room_ids, from_pos, now_pos, request.timeline_limit
        )
        visible = {
            e.event_id
            for e in await self._visible_to(request.user_id, [e for r in recents.values() for e in r.events])
        }
        timeline_filter = request.filter.room.timeline
        # Ignored users' messages are dropped; their state events are still sent (ignore_users.md).
        timelines = {
            room_id: [
                e for e in recents[room_id].events
                if e.event_id in visible and timeline_filter.matches(e.pdu) and (e.is_state or e.sender not in ignored)
            ]
            for room_id in room_ids
        }
        limited = {
            room_id: recents[room_id].limited or (room_id in full and request.since is not None)
            for room_id in room_ids
        }
        partial = [room_id for room_id in room_ids if room_id not in full]
        at_since = await self._stores.events.get_latest_event_ids_at(partial, since_pos) if partial else {}
        # The state at the timeline's start matters where the client lacks some of it: a
        # room it gets in full, or a gap in the timeline. Otherwise (most incremental syncs)
        # the timeline carries every change and `state` is empty.
        needs_start = [
            room_id for room_id in room_ids
            if not request.use_state_after and (room_id in full or room_id not in at_since or limited[room_id])
        ]
        states_at_start = (
            await self._states_before({room_id: recents[room_id].events for room_id in needs_start})
            if needs_start else {}
        )
        # The state the client had at `since`, where the answer depends on it.
        had_at_since = await self._stores.state.get_states_after(
            at_since[room_id] for room_id in partial
            if room_id in at_since and (limited[room_id] or request.use_state_after)
        )
        states_end = (
            await self._stores.state.get_many_current_state_ids(room_ids) if request.use_state_after else {}
        )
        wanted: dict[str, dict[StateKey, str]] = {}
        for room_id in room_ids:
            if not request.use_state_after and room_id not in states_at_start:
                wanted[room_id] = {}
                continue
            event_at_since = at_since.get(room_id)
            if room_id in full or event_at_since is None:
                client_had: Mapping[StateKey, str] = {}
            elif limited[room_id] or request.use_state_after:
                client_had = had_at_since.get(event_at_since, {})
            else:
                client_had = states_at_start[room_id]
            state = states_end[room_id] if request.use_state_after else states_at_start[room_id]
            wanted[room_id] = self._filter_state(
                request, _state_delta(state, client_had), timelines[room_id], summaries.get(room_id)
            )
        state_events = await self._stores.events.get_events(i for w in wanted.values() for i in w.values())
        states = {
            room_id: [state_events[i] for i in wanted[room_id].values() if i in state_events] for room_id in room_ids
        }
        served = iter(await self._serialize(
            [e for room_id in room_ids for e in (*timelines[room_id], *states[room_id])],
            requester=request.requester,
            include_room_id=False,
            now_ms=request.now_ms,
        ))
        state_key = "state_after" if request.use_state_after else "state"
        sections = {}
        for room_id in room_ids:
            prev_batch = recents[room_id].prev_batch or TopologicalToken(0, now_pos)
            room: dict[str, Any] = {
                "timeline": {
                    "events": [next(served) for _ in timelines[room_id]],
                    "limited": limited[room_id],
                    "prev_batch": prev_batch.serialize(),
                },
                state_key: {"events": [next(served) for _ in states[room_id]]},
                "ephemeral": {"events": []},
                "account_data": {"events": []},
            }
            sections[room_id] = (room, _has_member_change(timelines[room_id], states[room_id]))
        return sections

    async def _states_before(self, timelines: Mapping[str, list[Event]]) -> dict[str, dict[StateKey, str]]:
        """For each room, the state just before the first event of its timeline (the
        current state if none)."""
        firsts = {room_id: events[0] for room_id, events in timelines.items() if events}
        after_first = await self._stores.state.get_states_after(e.event_id for e in firsts.values())
        # A state event changed its own key: the state before it is the state after its
        # (first) prev event, or, for the create event, nothing.
        prev_of = {
            room_id: e.prev_event_ids[0]
            for room_id, e in firsts.items()
            if e.is_state and e.event_id in after_first and e.prev_event_ids
        }
        after_prev = await self._stores.state.get_states_after(prev_of.values()) if prev_of else {}
        unknown = [r for r in timelines if r not in firsts or firsts[r].event_id not in after_first]
        current = await self._stores.state.get_many_current_state_ids(unknown) if unknown else {}
        states: dict[str, dict[StateKey, str]] = {}
        for room_id in timelines:
            first = firsts.get(room_id)
            if first is None or room_id in current:
                states[room_id] = current[room_id]
            elif not first.is_state:
                states[room_id] = after_first[first.event_id]
            elif prev_of.get(room_id) in after_prev:
                states[room_id] = after_prev[prev_of[room_id]]
            else:
                states[room_id] = {k: v for k, v in after_first[first.event_id].items() if k != first.state_tuple}
        return states

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

    async def stripped_state(self, membership: Membership) -> list[dict[str, Any]]:
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
        state_at_start = (await self._states_before({membership.room_id: recent.events}))[membership.room_id]
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
