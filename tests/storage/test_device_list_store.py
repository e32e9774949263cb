"""The device-list stream's record of a user's last device changes, on both engines."""

from __future__ import annotations

from veche.storage.database import Database
from veche.storage.device_lists import DeviceListStore


async def test_latest_device_changes_newest_first_without_cross_signing(database: Database) -> None:
    store = await DeviceListStore.create(database)
    assert await store.latest_device_changes("@alice:a.test", 2) == []
    first, second = await store.record_changes("@alice:a.test", ["PHONE", "LAPTOP"])
    await store.record_changes("@alice:a.test", [None])  # a cross-signing change: not a device's
    await store.record_changes("@bob:a.test", ["BOB"])

    assert await store.latest_device_changes("@alice:a.test", 2) == [("LAPTOP", second), ("PHONE", first)]
    assert await store.latest_device_changes("@alice:a.test", 1) == [("LAPTOP", second)]
    assert await store.latest_device_change("@alice:a.test") == second
