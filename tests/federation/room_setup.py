"""Crafting and signing PDUs as another server would, and putting a remote user into a
room without the join handshake (which does not exist yet).

    pdu = build_pdu(key, "b.example", room_version, room_id, "m.room.message", "@bob:b.example",
                    {"body": "hi"}, prev_events=[...], auth_events=[...])
    event = await join_remote_user(a, b, room_id, "@bob:127.0.0.1:port")

`join_remote_user(a, b, room_id, user_id)` builds B's user's join on top of A's current
state, signs it with B's key, has A receive it through `receive_event` (every check, as
if B had sent it in a transaction), then gives B the room as a send_join answer would:
A's state and auth chain as checked outliers, and the join persisted with that state.
Afterwards both servers hold the room with the user joined, and events flow both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from veche.homeserver import HomeServer
from veche.protocol.auth_rules import auth_types_for_event
from veche.protocol.event_ids import compute_event_id
from veche.protocol.events import Event, StateKey
from veche.protocol.hashing import add_hashes_and_signatures
from veche.protocol.room_versions import EventFormat, RoomVersion
from veche.protocol.signing import SigningKey


def build_pdu(
    key: SigningKey,
    server_name: str,
    room_version: RoomVersion,
    room_id: str,
    event_type: str,
    sender: str,
    content: dict[str, Any],
    *,
    prev_events: Sequence[Event],
    auth_events: Sequence[Event],
    state_key: str | None = None,
    origin_server_ts: int = 1_700_000_000_000,
    depth: int | None = None,
    sign: bool = True,
) -> dict[str, Any]:
    """A PDU of `room_version` hashed and (unless `sign` is false) signed by `server_name`."""

    def refs(events: Sequence[Event]) -> list[Any]:
        if room_version.event_format is EventFormat.V1:
            return [[e.event_id, e.pdu.get("hashes", {})] for e in events]
        return [e.event_id for e in events]

    pdu: dict[str, Any] = {
        "room_id": room_id,
        "type": event_type,
        "sender": sender,
        "content": content,
        "origin_server_ts": origin_server_ts,
        "depth": depth if depth is not None else max((e.depth for e in prev_events), default=0) + 1,
        "prev_events": refs(prev_events),
        "auth_events": refs(auth_events),
    }
    if state_key is not None:
        pdu["state_key"] = state_key
    if room_version.event_format is EventFormat.V1:
        pdu["event_id"] = f"${abs(hash((event_type, sender, origin_server_ts)))}:{server_name}"
    add_hashes_and_signatures(pdu, room_version, server_name, key)
    if not sign:
        pdu["signatures"] = {}
    return pdu


def as_event(pdu: dict[str, Any], room_version: RoomVersion) -> Event:
    return Event(pdu, room_version, compute_event_id(pdu, room_version))


async def current_auth_events(
    hs: HomeServer, room_id: str, event_type: str, sender: str, content: dict[str, Any], state_key: str | None
) -> list[Event]:
    """The events of `hs`'s current state an event with these fields must cite."""
    room_version = await hs.stores.rooms.get_room_version(room_id)
    assert room_version is not None
    state = await hs.stores.state.get_current_state_ids(room_id)
    keys: list[StateKey] = auth_types_for_event(room_version, event_type, state_key, sender, content)
    events = await hs.stores.events.get_events(state[k] for k in keys if k in state)
    return [events[state[k]] for k in keys if k in state]


async def extremities(hs: HomeServer, room_id: str) -> list[Event]:
    ids = await hs.stores.events.get_forward_extremities(room_id)
    return list((await hs.stores.events.get_events(ids)).values())


async def build_remote_event(
    a: HomeServer,
    b: HomeServer,
    room_id: str,
    event_type: str,
    sender: str,
    content: dict[str, Any],
    state_key: str | None = None,
    **kwargs: Any,
) -> Event:
    """An event by B's user on top of A's current extremities and state, signed by B."""
    room_version = await a.stores.rooms.get_room_version(room_id)
    assert room_version is not None
    auth = await current_auth_events(a, room_id, event_type, sender, content, state_key)
    pdu = build_pdu(
        b.signing_key,
        b.server_name,
        room_version,
        room_id,
        event_type,
        sender,
        content,
        prev_events=kwargs.pop("prev_events", None) or await extremities(a, room_id),
        auth_events=auth,
        state_key=state_key,
        origin_server_ts=a.sender.now_ms(),
        **kwargs,
    )
    return as_event(pdu, room_version)


async def join_remote_user(a: HomeServer, b: HomeServer, room_id: str, user_id: str) -> Event:
    """B's `user_id` joins A's (public) room; both servers then hold it (see module doc)."""
    room_version = await a.stores.rooms.get_room_version(room_id)
    assert room_version is not None
    join = await build_remote_event(a, b, room_id, "m.room.member", user_id, {"membership": "join"}, user_id)
    received = await a.federation_events.receiver.receive_event(b.server_name, join)
    assert received.rejected_reason is None, received.rejected_reason

    state_before = await a.stores.state.get_state_ids_after(join.prev_event_ids[0])
    assert state_before is not None
    state_events = await a.stores.events.get_events(state_before.values())
    chain = await a.stores.events.get_auth_chain([*state_before.values(), join.event_id])
    pdus = [e.pdu for e in [*chain, *state_events.values()]]
    receiver = b.federation_events.receiver
    await receiver.import_outliers(a.server_name, room_id, room_version, pdus)
    await receiver.persist_with_state(join, dict(state_before))
    return join
