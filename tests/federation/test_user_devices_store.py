"""The store of other servers' users' device lists, on both engines."""

from __future__ import annotations

from veche.storage.database import Database
from veche.storage.remote_devices import RemoteDeviceStore


async def test_kept_replaced_and_forgotten(database: Database) -> None:
    store = RemoteDeviceStore(database)
    assert await store.get([]) == {}
    first = {"user_id": "@bob:b.test", "stream_id": 3, "devices": [{"device_id": "D", "keys": {"n": 1.5}}]}
    await store.put("@bob:b.test", 3, first, 1000)
    await store.put("@carol:b.test", 1, {"user_id": "@carol:b.test", "stream_id": 1, "devices": []}, 1000)
    assert await store.get(["@bob:b.test", "@nobody:b.test"]) == {"@bob:b.test": first}
    second = {**first, "stream_id": 4, "devices": []}
    await store.put("@bob:b.test", 4, second, 2000)
    assert (await store.get(["@bob:b.test", "@bob:b.test"]))["@bob:b.test"] == second
    await store.forget("@bob:b.test")
    assert list(await store.get(["@bob:b.test", "@carol:b.test"])) == ["@carol:b.test"]
