"""Evaluating push rules for every local member of a room when an event lands.

Registered as an `EventSender.after_persist` hook (federation calls the same hooks), so the
actions are stored before the syncs the event wakes read its unread counts (push.md
"Server behaviour": the new count MUST appear in the same /sync as the event).

A message into a room of thousands of local members stays cheap: the members, the member
count and the power levels come from per-room caches dropped only by member or
power-level events; users who kept the default rules share one rule set that
`evaluate_bulk` walks once; and the notifying actions go to the database in one batch.
"""

from __future__ import annotations

import logging
from typing import Any

from veche.protocol.events import Event
from veche.protocol.power_levels import get_notification_level, get_user_power_level
from veche.protocol.push_rules import EventFacts, evaluate_bulk, is_highlight, is_notify
from veche.protocol.relations import relation_of
from veche.services.push.pushers import PusherService
from veche.services.push.rules import PushRuleService
from veche.services.rooms.members import LocalMembers
from veche.storage.cache import LruCache
from veche.storage.events import EventStore
from veche.storage.push_actions import MAIN_THREAD, NotifiedUsers, PushActionStore
from veche.storage.rooms import RoomStore

logger = logging.getLogger(__name__)

# push.md "Marking notifications as read": follow relations at most this far to a thread.
MAX_THREAD_HOPS = 3
THREAD = "m.thread"
_POWER_TYPES = ("m.room.power_levels", "m.room.create")
# Rooms whose member count and power levels stay cached between their events.
ROOM_CACHE_SIZE = 10_000


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
        self._power: LruCache[str, tuple[Event | None, Event | None]] = LruCache(ROOM_CACHE_SIZE)

    async def __call__(self, event: Event, stream_ordering: int) -> None:
        room_id = event.room_id
        if event.type == "m.room.member":
            self._member_counts.pop(room_id)
            # The members cache is otherwise dropped only after every hook has run.
            self._members.invalidate(room_id)
        elif event.type in _POWER_TYPES and event.state_key == "":
            self._power.pop(room_id)

        recipients = set(await self._members.joined(room_id))
        target = event.state_key if event.type == "m.room.member" else None
        if target is not None and event.content.get("membership") == "invite" and self._members.is_local(target):
            # The invitee is not a member yet, but .m.rule.invite_for_me is for them.
            recipients.add(target)
        recipients.discard(event.sender)  # push.md: never for the user's own events
        sender_is_local = self._members.is_local(event.sender)
        if not recipients and not sender_is_local:
            return

        results: dict[str, Any] = {}
        if recipients:
            rulesets = await self._rules.get_rulesets(recipients)
            names = await self._display_names(room_id, [u for u, r in rulesets.items() if r.needs_display_name])
            facts = await self._facts(event)
            results = {u: a for u, a in evaluate_bulk(facts, rulesets, names).items() if is_notify(a)}
        thread_id = await self._thread_of(event) if results or sender_is_local else MAIN_THREAD
        # Users matched by the same rule share its actions tuple: one group per rule.
        groups: dict[int, tuple[Any, list[str]]] = {}
        for user_id, actions in results.items():
            groups.setdefault(id(actions), (actions, []))[1].append(user_id)
        await self._actions.add(
            room_id,
            event.event_id,
            stream_ordering,
            event.origin_server_ts,
            thread_id,
            [NotifiedUsers(users, is_highlight(actions), list(actions)) for actions, users in groups.values()],
            event.sender if sender_is_local else None,
        )
        if results:
            await self._pushers.notify(event, results)

    async def _facts(self, event: Event) -> EventFacts:
        room_id = event.room_id
        count = self._member_counts.get(room_id)
        if count is None:
            count = len(await self._rooms.get_joined_members(room_id))
            self._member_counts.set(room_id, count)
        power = self._power.get(room_id)
        if power is None:
            power = (
                await self._events.get_current_state_event(room_id, "m.room.power_levels"),
                await self._events.get_current_state_event(room_id, "m.room.create"),
            )
            self._power.set(room_id, power)
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
