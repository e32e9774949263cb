"""A small room for auth-rule tests: builds events whose auth events follow the selection
algorithm, keeps the resulting state, and checks events against it.

    room = AuthRoom("10", join_rule="public")        # create, creator join, power levels, join rules
    ev = room.member(BOB, "join")
    room.check(ev)                                   # raises AuthError if not allowed
    room.apply(ev)                                   # checks, then adds it to the state
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.protocol.event_factory import EventFactory
from veche.protocol.auth_rules import auth_types_for_event, check_auth_event_list, check_auth_rules
from veche.protocol.events import Event, StateKey

ALICE = "@alice:example.org"  # the creator (level 100, or infinite in v12)
MOD = "@mod:example.org"  # level 50
BOB = "@bob:example.org"  # joined, default level
CAROL = "@carol:other.org"  # not in the room
EVE = "@eve:evil.org"  # not in the room

ALL_VERSIONS = [str(n) for n in range(1, 13)]


class AuthRoom:
    def __init__(
        self,
        version: str,
        *,
        join_rule: str | None = "invite",
        power_levels: Mapping[str, Any] | None = None,
        create_content: Mapping[str, Any] | None = None,
        members: Mapping[str, str] | None = None,
    ) -> None:
        """`power_levels` replaces the default content; `members` maps extra users to a
        membership set up directly in the state (default: MOD and BOB joined)."""
        self.factory = EventFactory(version)
        self.rv = self.factory.room_version
        self.state: dict[StateKey, Event] = {}
        self.events: dict[str, Event] = {}
        self.last: Event | None = None
        create = self.factory.create(ALICE, create_content)
        self._put(create)
        self.apply(self.member(ALICE, "join"))
        if power_levels is None:
            users = {MOD: 50} if self.rv.privileged_creators else {ALICE: 100, MOD: 50}
            power_levels = {"users": users}
        self.apply(self.state_event("m.room.power_levels", ALICE, "", power_levels))
        if join_rule is not None:
            self.apply(self.state_event("m.room.join_rules", ALICE, "", {"join_rule": join_rule}))
        for user, membership in (members if members is not None else {MOD: "join", BOB: "join"}).items():
            self.set_membership(user, membership)

    @property
    def create(self) -> Event:
        return self.state[("m.room.create", "")]

    def event(
        self,
        event_type: str,
        sender: str,
        content: Mapping[str, Any] | None = None,
        *,
        state_key: str | None = None,
        **kwargs: Any,
    ) -> Event:
        """An event citing the auth events that the selection algorithm picks from the state."""
        content = dict(content or {})
        if "auth_events" not in kwargs:
            keys = auth_types_for_event(self.rv, event_type, state_key, sender, content)
            kwargs["auth_events"] = [self.state[k] for k in keys if k in self.state]
        kwargs.setdefault("prev_events", [self.last] if self.last is not None else [])
        return self.factory.event(event_type, sender, content, state_key=state_key, **kwargs)

    def state_event(self, event_type: str, sender: str, state_key: str, content: Mapping[str, Any] | None = None, **kwargs: Any) -> Event:
        return self.event(event_type, sender, content, state_key=state_key, **kwargs)

    def member(self, target: str, membership: str, sender: str | None = None, content: Mapping[str, Any] | None = None, **kwargs: Any) -> Event:
        return self.state_event("m.room.member", sender or target, target, {"membership": membership, **(content or {})}, **kwargs)

    def check(self, event: Event) -> None:
        """Both auth checks a receiving server makes: the auth event list, then the rules."""
        check_auth_event_list(event, self._auth_events_of(event))
        check_auth_rules(event, self.state)

    def apply(self, event: Event) -> Event:
        self.check(event)
        self._put(event)
        return event

    def set_membership(self, user: str, membership: str) -> None:
        """Put a membership straight into the state (as if reached by a valid history)."""
        self._put(self.member(user, membership, sender=ALICE if membership != "join" else user))

    def _put(self, event: Event) -> None:
        if event.is_state:
            self.state[event.state_tuple] = event
        self.events[event.event_id] = event
        self.last = event

    def _auth_events_of(self, event: Event) -> list[Event]:
        return [self.events[i] for i in event.auth_event_ids]
