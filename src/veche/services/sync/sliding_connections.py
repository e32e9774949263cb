"""Sliding sync connections: what each issued `pos` stands for, in memory.

A connection is (user, device, conn_id). Each response's `pos` names a snapshot of what the
connection had sent by then (per room: the timeline position, the room config, the
required state and the summary fields), so a retried or re-sent request with the same
`pos` is answered from the same starting point (MSC4186 "Connections"). Once a request
presents a `pos`, the snapshots before it are dropped. Nothing is persisted: after a
restart every `pos` is unknown and clients start over through M_UNKNOWN_POS, which the MSC
allows.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from veche.protocol.events import StateKey
from veche.protocol.sliding_sync import Pos, RoomConfig
from veche.services.streams import StreamToken

ConnectionKey = tuple[str, str, str]

# Bounds on what one device, and the whole server, may keep (MSC4186 "Security
# considerations": limit the connections a device can hold).
MAX_CONNECTIONS_PER_DEVICE = 10
MAX_CONNECTIONS = 10_000
# Snapshots kept per connection: the confirmed one and responses not yet confirmed.
MAX_SNAPSHOTS = 10


class UnknownPos(Exception):
    """The `pos` was not issued to this connection, or has been dropped."""


@dataclass(frozen=True, slots=True)
class SentRoom:
    # The room's timeline has been sent up to this events stream position.
    events_pos: int
    membership: str
    membership_event_id: str
    config: RoomConfig
    # Required state sent: (type, state_key) → event ID.
    state: Mapping[StateKey, str]
    # Summary fields last sent (name, avatar, counts …), to send only their changes.
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Snapshot:
    token: StreamToken | None = None
    rooms: Mapping[str, SentRoom] = field(default_factory=dict)
    list_counts: Mapping[str, int] = field(default_factory=dict)
    # Joined room → position of its last activity event, and the rooms m.direct named:
    # carried over while nothing moved them.
    activity: Mapping[str, int] = field(default_factory=dict)
    dm_rooms: frozenset[str] | None = None


@dataclass(slots=True)
class _Connection:
    generation: str
    next_number: int = 1
    snapshots: dict[int, Snapshot] = field(default_factory=dict)


class Connections:
    def __init__(self) -> None:
        # Insertion order is recency of use: the oldest connection is evicted first.
        self._connections: dict[ConnectionKey, _Connection] = {}

    def start(self, key: ConnectionKey) -> None:
        """A request without `pos`: the connection starts over."""
        self._connections.pop(key, None)
        self._open(key)

    def snapshot_at(self, key: ConnectionKey, pos: str) -> Snapshot:
        connection = self._connections.get(key)
        parsed = Pos.parse(pos)
        if connection is None or parsed is None or parsed.generation != connection.generation:
            raise UnknownPos(pos)
        number = parsed.number
        snapshot = connection.snapshots.get(number)
        if snapshot is None or _events_position(snapshot) != parsed.events:
            raise UnknownPos(pos)
        # The client has what `pos` stands for: earlier snapshots can no longer be asked for.
        for older in [n for n in connection.snapshots if n < number]:
            del connection.snapshots[older]
        self._connections[key] = self._connections.pop(key)
        return snapshot

    def issue(self, key: ConnectionKey, snapshot: Snapshot) -> str:
        """Record `snapshot` and return the `pos` naming it."""
        connection = self._connections.get(key)
        if connection is None:
            # Evicted while the request was being answered: its pos will be unknown.
            connection = self._open(key)
        number = connection.next_number
        connection.next_number += 1
        connection.snapshots[number] = snapshot
        while len(connection.snapshots) > MAX_SNAPSHOTS:
            del connection.snapshots[min(connection.snapshots)]
        return Pos(connection.generation, number, _events_position(snapshot)).serialize()

    def forget_room(self, room_id: str) -> None:
        """Take a purged room out of every snapshot, as if it had never been sent."""
        for connection in self._connections.values():
            for number, snapshot in connection.snapshots.items():
                if room_id in snapshot.rooms or room_id in snapshot.activity:
                    connection.snapshots[number] = replace(
                        snapshot,
                        rooms={r: sent for r, sent in snapshot.rooms.items() if r != room_id},
                        activity={r: pos for r, pos in snapshot.activity.items() if r != room_id},
                    )

    def _open(self, key: ConnectionKey) -> _Connection:
        """A new generation for `key`, making room for it first."""
        self._evict(key)
        connection = self._connections[key] = _Connection(secrets.token_hex(4))
        return connection

    def _evict(self, key: ConnectionKey) -> None:
        device = key[:2]
        same_device = [k for k in self._connections if k[:2] == device]
        for old in same_device[: max(len(same_device) - MAX_CONNECTIONS_PER_DEVICE + 1, 0)]:
            del self._connections[old]
        while len(self._connections) >= MAX_CONNECTIONS:
            del self._connections[next(iter(self._connections))]


def _events_position(snapshot: Snapshot) -> int:
    return snapshot.token.events if snapshot.token is not None else 0
