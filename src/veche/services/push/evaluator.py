"""Evaluating push rules for every local member of a room when an event lands.

An `EventSender` companion: for a local event the actions are evaluated before it is
persisted and stored in the event's own transaction (one commit for both, so a crash
never keeps the event without its notification counts); for a received event they are
stored in a transaction right after its own. Either way they are stored before the syncs
the event wakes read its unread counts (push.md "Server behaviour": the new count MUST
appear in the same /sync as the event).

A message into a room of thousands of local members stays cheap: the members, the member
count and the power levels come from per-room caches dropped only by member or
power-level events; users who kept the default rules share one rule set that
`evaluate_bulk` walks once; and the notifying actions go to the database in one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from veche.protocol.events import Event
from veche.protocol.power_levels import get_notification_level, get_user_power_level
from veche.protocol.push_rules import EventFacts, evaluate_bulk, is_highlight, is_notify
from veche.protocol.relations import relation_of
from veche.services.push.pushers import PusherService
from veche.services.push.rules import PushRuleService
from veche.services.rooms.members import LocalMembers
from veche.services.rooms.sending import Alongside
from veche.storage.cache import LruCache
from veche.storage.events import EventStore
from veche.storage.push_actions import MAIN_THREAD, NotifiedUsers, PushActionStore
from veche.storage.rooms import RoomStore

logger = logging.getLogger(__name__)

_Power = tuple[Event | None, Event | None]
"""The room's power levels and create events."""

# push.md "Marking notifications as read": follow relations at most this far to a thread.
MAX_THREAD_HOPS = 3
THREAD = "m.thread"
_POWER_TYPES = ("m.room.power_levels", "m.room.create")
# Rooms whose member count and power levels stay cached between their events.
ROOM_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class _Plan:
    thread_id: str
    notified: list[NotifiedUsers]
    sender_mark: str | None  # the sender, when local: they have read up to their event
    results: dict[str, Any]  # user → actions, for those it notifies


def _apply_membership(users: set[str], event: Event) -> None:
    """Make `users` the joined users after member event `event`."""
    if event.content.get("membership") == "join":
        users.add(event.state_key or "")
    else:
        users.discard(event.state_key or "")


class PushEvaluator:
    def __init__(
        self,
        *,
        events: EventStore,
        rooms: RoomStore,
        members: LocalMembers,
        rules: PushRuleService,
        actions: PushActionStore,
        pushers: PusherService,
    ) -> None:
        self._events = events
        self._rooms = rooms
        self._members = members
        self._rules = rules
        self._actions = actions
        self._pushers = pushers
        self._member_counts: LruCache[str, int] = LruCache(ROOM_CACHE_SIZE)
        self._power: LruCache[str, _Power] = LruCache(ROOM_CACHE_SIZE)

    async def prepare(self, events: Sequence[Event]) -> list[Alongside | None]:
        """The push actions of local events about to be persisted, in order, into one room.

        Each is evaluated against the room as it will be just after it: the batch's
        member and power-level events count for the events after them.
        """
        if not events:
            return []
        room_id = events[0].room_id
        joined = set(await self._members.joined(room_id))
        everyone: set[str] | None = None  # every joined member, read only for member events
        count: int | None = None
        power = await self._power_levels(room_id)
        prepared: list[Alongside | None] = []
        for event in events:
            if event.type == "m.room.member" and event.state_key is not None:
                if everyone is None:
                    everyone = set(await self._rooms.get_joined_members(room_id))
                _apply_membership(everyone, event)
                if self._members.is_local(event.state_key):
                    _apply_membership(joined, event)
                count = len(everyone)
            elif event.type == "m.room.power_levels" and event.state_key == "":
                power = (event, power[1])
            plan = await self._plan(event, joined, count, power)
            prepared.append(None if plan is None else Alongside(
                writes=self._actions.statements(
                    room_id, event.event_id, event.origin_server_ts, plan.thread_id, plan.notified, plan.sender_mark
                ),
                then=partial(self._pushers.notify, event, plan.results) if plan.results else None,
            ))
        return prepared

    def forget_room(self, room_id: str) -> None:
        self._member_counts.pop(room_id)
        self._power.pop(room_id)

    def committed(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.type == "m.room.member":
                self._member_counts.pop(event.room_id)
            elif event.type in _POWER_TYPES and event.state_key == "":
                self._power.pop(event.room_id)

    async def on_received(self, event: Event, stream_ordering: int) -> None:
        if event.type == "m.room.member":
            # The members cache is otherwise dropped only after every hook has run.
            self._members.invalidate(event.room_id)
        self.committed([event])
        # The room's caches now hold the state after the event, which `prepare` expects
        # before it; applying the event's membership again changes nothing.
        joined = set(await self._members.joined(event.room_id))
        plan = await self._plan(event, joined, None, await self._power_levels(event.room_id))
        if plan is None:
            return
        await self._actions.add(
            event.room_id, event.event_id, stream_ordering, event.origin_server_ts, plan.thread_id,
            plan.notified, plan.sender_mark,
        )
        if plan.results:
            await self._pushers.notify(event, plan.results)

    async def _plan(
        self, event: Event, joined: set[str], member_count: int | None, power: _Power
    ) -> _Plan | None:
        """Who the event notifies and how, given the room's local joined users (and its
        member count when known) just after it."""
        recipients = set(joined)
        target = event.state_key if event.type == "m.room.member" else None
        if target is not None and event.content.get("membership") == "invite" and self._members.is_local(target):
            # The invitee is not a member yet, but .m.rule.invite_for_me is for them.
            recipients.add(target)
        recipients.discard(event.sender)  # push.md: never for the user's own events
        sender_is_local = self._members.is_local(event.sender)
        if not recipients and not sender_is_local:
            return None

        results: dict[str, Any] = {}
        if recipients:
            rulesets = await self._rules.get_rulesets(recipients)
            names = await self._display_names(event.room_id, [u for u, r in rulesets.items() if r.needs_display_name])
            facts = await self._facts(event, member_count, power)
            results = {u: a for u, a in evaluate_bulk(facts, rulesets, names).items() if is_notify(a)}
        thread_id = await self._thread_of(event) if results or sender_is_local else MAIN_THREAD
        # Users matched by the same rule share its actions tuple: one group per rule.
        groups: dict[int, tuple[Any, list[str]]] = {}
        for user_id, actions in results.items():
            groups.setdefault(id(actions), (actions, []))[1].append(user_id)
        return _Plan(
            thread_id,
            [NotifiedUsers(users, is_highlight(actions), list(actions)) for actions, users in groups.values()],
            event.sender if sender_is_local else None,
            results,
        )

    async def _power_levels(self, room_id: str) -> _Power:
        power = self._power.get(room_id)
        if power is None:
            power = (
                await self._events.get_current_state_event(room_id, "m.room.power_levels"),
                await self._events.get_current_state_event(room_id, "m.room.create"),
            )
            self._power.set(room_id, power)
        return power

    async def _facts(self, event: Event, count: int | None, power: _Power) -> EventFacts:
        room_id = event.room_id
        if count is None:
            count = self._member_counts.get(room_id)
        if count is None:
            count = len(await self._rooms.get_joined_members(room_id))
            self._member_counts.set(room_id, count)
        power_levels, create = power
        return EventFacts(
            event=event.pdu,
            member_count=count,
            sender_power_level=get_user_power_level(event.sender, power_levels, create),
            notification_level=lambda key: get_notification_level(key, power_levels),
        )

    async def _display_names(self, room_id: str, user_ids: list[str]) -> dict[str, str]:
        """The users' display names in the room (their member events), for contains_display_name."""
        names: dict[str, str] = {}
        for user_id in user_ids:
            member = await self._events.get_current_state_event(room_id, "m.room.member", user_id)
            name = member.content.get("displayname") if member is not None else None
            if isinstance(name, str) and name:
                names[user_id] = name
        return names

    async def _thread_of(self, event: Event) -> str:
        """The root of the event's thread, or 'main' (push.md: at most a few hops)."""
        current: Event | None = event
        for _ in range(MAX_THREAD_HOPS):
            relation = relation_of(current.content) if current is not None else None
            if relation is None:
                return MAIN_THREAD
            parent_id, rel_type = relation
            if rel_type == THREAD:
                return parent_id
            current = await self._events.get_event(parent_id)
        return MAIN_THREAD
