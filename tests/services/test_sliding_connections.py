"""Sliding sync connections: which `pos` each connection may present, and the bounds on
how many connections are kept."""

from __future__ import annotations

import pytest

from veche.services.streams import StreamToken
from veche.services.sync.sliding_connections import (
    MAX_CONNECTIONS_PER_DEVICE,
    Connections,
    Snapshot,
    UnknownPos,
)

KEY = ("@alice:x", "DEVICE", "room-list")


def test_a_pos_names_its_snapshot_and_retries_get_the_same_one() -> None:
    connections = Connections()
    connections.start(KEY)
    first = Snapshot(StreamToken(events=1))
    pos = connections.issue(KEY, first)
    assert connections.snapshot_at(KEY, pos) is first
    # The client retried: the same pos is still good, and so is a later one.
    assert connections.snapshot_at(KEY, pos) is first
    second = Snapshot(StreamToken(events=2))
    later = connections.issue(KEY, second)
    assert connections.snapshot_at(KEY, later) is second
    # Presenting the later pos confirmed it: the earlier one is gone.
    with pytest.raises(UnknownPos):
        connections.snapshot_at(KEY, pos)


def test_unknown_positions() -> None:
    connections = Connections()
    connections.start(KEY)
    pos = connections.issue(KEY, Snapshot())
    for bad in ("", "junk", pos + "0", pos.split("_")[0] + "_x", "deadbeef_1"):
        with pytest.raises(UnknownPos):
            connections.snapshot_at(KEY, bad)
    with pytest.raises(UnknownPos):
        connections.snapshot_at(("@alice:x", "DEVICE", "other"), pos)
    # Starting over forgets the connection's positions.
    connections.start(KEY)
    with pytest.raises(UnknownPos):
        connections.snapshot_at(KEY, pos)


def test_a_device_keeps_a_bounded_number_of_connections() -> None:
    connections = Connections()
    issued = {}
    for n in range(MAX_CONNECTIONS_PER_DEVICE + 1):
        key = ("@alice:x", "DEVICE", f"conn{n}")
        connections.start(key)
        issued[key] = connections.issue(key, Snapshot())
    oldest = ("@alice:x", "DEVICE", "conn0")
    with pytest.raises(UnknownPos):
        connections.snapshot_at(oldest, issued[oldest])
    for key, pos in list(issued.items())[1:]:
        connections.snapshot_at(key, pos)
    # Another device's connections are not counted against this one.
    other = ("@alice:x", "OTHER", "room-list")
    connections.start(other)
    connections.snapshot_at(other, connections.issue(other, Snapshot()))
