"""The current state of a room after received events fork it: the resolution of the states
at all its forward extremities (server-server-api.md, "Room State Resolution"), on
SQLite and PostgreSQL, whichever branch arrives first."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from veche.homeserver import HomeServer
from veche.protocol.events import Event, StateKey
from veche.protocol.state_res import resolve_state
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.receiver import PduReceiver
from veche.services.rooms.sending import EventDraft

from .room_setup import as_event, build_pdu, current_auth_events, extremities
from .test_receive import REMOTE, REMOTE_KEY, StubKeyring, StubRemote

BOB = f"@bob:{REMOTE}"
CAROL = f"@carol:{REMOTE}"
DAVE = f"@dave:{REMOTE}"


class Room:
    def __init__(self, hs: HomeServer, room_id: str) -> None:
        self.hs, self.room_id = hs, room_id
        self.alice = f"@alice:{hs.server_name}"
        self.receiver = PduReceiver(
            stores=hs.stores,
            sender=hs.sender,
            verifier=EventVerifier(StubKeyring({REMOTE: REMOTE_KEY, hs.server_name: hs.signing_key})),  # type: ignore[arg-type]
            remote=StubRemote(),  # type: ignore[arg-type]
            acl=hs.federation.acl,
        )
        self._ts = itertools.count(hs.sender.now_ms())

    async def event(
        self,
        event_type: str,
        sender: str,
        content: dict[str, Any],
        state_key: str | None = None,
        *,
        prev: Sequence[Event] | None = None,
        auth: Sequence[Event] | None = None,
    ) -> Event:
        version = await self.hs.stores.rooms.get_room_version(self.room_id)
        assert version is not None
        if auth is None:
            auth = await current_auth_events(self.hs, self.room_id, event_type, sender, content, state_key)
        pdu = build_pdu(
            REMOTE_KEY, REMOTE, version, self.room_id, event_type, sender, content,
            prev_events=prev or await extremities(self.hs, self.room_id), auth_events=auth,
            state_key=state_key, origin_server_ts=next(self._ts),
        )
        return as_event(pdu, version)

    async def receive(self, *events: Event) -> None:
        for event in events:
            stored = await self.receiver.receive_pdu(REMOTE, event.pdu)
            assert stored.rejected_reason is None, stored.rejected_reason

    async def current(self) -> dict[StateKey, str]:
        return await self.hs.stores.state.get_current_state_ids(self.room_id)

    async def resolution_of(self, tips: Sequence[Event]) -> dict[StateKey, str]:
        """What protocol/state_res makes of the states after `tips`."""
        version = await self.hs.stores.rooms.get_room_version(self.room_id)
        assert version is not None
        states = await self.hs.stores.state.get_states_after([tip.event_id for tip in tips])
        assert len(states) == len(tips)
        ids = {event_id for state in states.values() for event_id in state.values()}
        ids |= await self.hs.stores.events.get_auth_chain_ids(ids)
        event_map = await self.hs.stores.events.get_events(ids)
        return resolve_state(version, list(states.values()), event_map)


async def forked_room(hs: HomeServer, version: str) -> tuple[Room, list[Event], list[Event]]:
    """A room where bob (power 100), carol (50) and dave of remote.example have joined,
    and two branches made concurrently on top of it, not yet received:

    A: bob sets the topic, then bans dave;
    B: carol sets the topic (later), then bob raises the power needed to set it to 75.

    Resolved together, the new power levels make carol's topic fail, so bob's stands;
    resolving the current state of A+B1 with the state after B2 instead would keep
    carol's (it is in both, so unconflicted).
    """
    alice = f"@alice:{hs.server_name}"
    room_id = await hs.room_creator.create_room(alice, {"preset": "public_chat", "room_version": version})
    room = Room(hs, room_id)
    for user in (BOB, CAROL, DAVE):
        await room.receive(await room.event("m.room.member", user, {"membership": "join"}, user))
    levels = await hs.stores.events.get_current_state_event(room_id, "m.room.power_levels")
    assert levels is not None
    users = {**levels.content.get("users", {}), BOB: 100, CAROL: 50}
    await hs.sender.send(room_id, alice, EventDraft("m.room.power_levels", {**levels.content, "users": users}, ""))
    base = await extremities(hs, room_id)
    levels = await hs.stores.events.get_current_state_event(room_id, "m.room.power_levels")
    assert levels is not None

    async def auth(event_type: str, sender: str, content: dict[str, Any], state_key: str) -> list[Event]:
        return await current_auth_events(hs, room_id, event_type, sender, content, state_key)

    async def made(
        event_type: str, sender: str, content: dict[str, Any], state_key: str, prev: list[Event]
    ) -> Event:
        return await room.event(
            event_type, sender, content, state_key, prev=prev,
            auth=await auth(event_type, sender, content, state_key),
        )

    # Made in this order, so their origin_server_ts are too.
    a1 = await made("m.room.topic", BOB, {"topic": "A"}, "", base)
    a2 = await made("m.room.member", BOB, {"membership": "ban"}, DAVE, [a1])
    b1 = await made("m.room.topic", CAROL, {"topic": "B"}, "", base)
    raised = {**levels.content, "events": {**levels.content.get("events", {}), "m.room.topic": 75}}
    b2 = await made("m.room.power_levels", BOB, raised, "", [b1])
    return room, [a1, a2], [b1, b2]


@pytest.mark.parametrize("version", ["10", "12"])
@pytest.mark.parametrize("a_first", [True, False], ids=["a_first", "b_first"])
async def test_current_state_is_the_resolution_of_both_branches(
    engine_server: HomeServer, version: str, a_first: bool
) -> None:
    hs = engine_server
    room, branch_a, branch_b = await forked_room(hs, version)
    first, second = (branch_a, branch_b) if a_first else (branch_b, branch_a)
    await room.receive(*first)
    await room.receive(*second)

    tips = [branch_a[-1], branch_b[-1]]
    assert set(await hs.stores.events.get_forward_extremities(room.room_id)) == {e.event_id for e in tips}
    current = await room.current()
    assert current == await room.resolution_of(tips)
    assert current[("m.room.member", DAVE)] == branch_a[1].event_id
    assert current[("m.room.power_levels", "")] == branch_b[1].event_id
    assert current[("m.room.topic", "")] == branch_a[0].event_id
    members = await hs.stores.rooms.get_joined_members(room.room_id)
    assert DAVE not in members and {BOB, CAROL} <= set(members)
    topic = await hs.stores.events.get_current_state_event(room.room_id, "m.room.topic")
    assert topic is not None and topic.content == {"topic": "A"}


@pytest.mark.parametrize("version", ["10"])
async def test_branches_that_agree_are_not_resolved(engine_server: HomeServer, version: str) -> None:
    hs = engine_server
    # Two concurrent messages leave two extremities with the same state.
    room, _, _ = await forked_room(hs, version)
    base = await extremities(hs, room.room_id)
    state = await room.current()
    one = await room.event("m.room.message", BOB, {"body": "1"}, prev=base)
    two = await room.event("m.room.message", CAROL, {"body": "2"}, prev=base)
    await room.receive(one, two)
    assert set(await hs.stores.events.get_forward_extremities(room.room_id)) == {one.event_id, two.event_id}
    assert await room.current() == state
