import asyncio

from veche.services.keyed_lock import KeyedLock


async def test_serialises_per_key_and_parallelises_across_keys():
    lock = KeyedLock()
    order = []

    async def work(key, tag, delay):
        async with lock.hold(key):
            order.append(f"{tag}-in")
            await asyncio.sleep(delay)
            order.append(f"{tag}-out")

    await asyncio.gather(work("a", "a1", 0.02), work("a", "a2", 0), work("b", "b1", 0))
    assert order.index("a1-out") < order.index("a2-in")
    assert order.index("b1-in") < order.index("a1-out")
    assert lock._locks == {}
