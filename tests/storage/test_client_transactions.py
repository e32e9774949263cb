"""Client transaction IDs: recorded with their event, looked up a batch at a time."""

from __future__ import annotations

from veche.storage.room_directory import ClientTransactionStore


async def test_lookup_of_a_batch_names_the_used_keys_only(database):
    store = ClientTransactionStore(database)
    async with database.transaction() as txn:
        await txn.execute_all(store.record_statements("@a:t", "D1", "t1", "$one", 1))
        await txn.execute_all(store.record_statements("@a:t", "D1", "t2", "$two", 2))
    used = {("@a:t", "D1", "t1"): "$one", ("@a:t", "D1", "t2"): "$two"}
    keys = [("@a:t", "D1", "t1"), ("@a:t", "D2", "t1"), ("@b:t", "D1", "t2"), ("@a:t", "D1", "t2")]
    assert await store.get_event_ids(keys) == used
    # Five keys are padded to eight by repeating the last one, which must not matter.
    assert await store.get_event_ids([*keys, ("@a:t", "D1", "t3")]) == used
    assert await store.get_event_ids([("@a:t", "D1", "t2")] * 3) == {("@a:t", "D1", "t2"): "$two"}
    assert await store.get_event_ids([]) == {}
