"""Stored server keys on both engines: a fresher response wins, a staler one does not."""

from __future__ import annotations

from veche.storage.database import Database
from veche.storage.server_keys import KeyToStore, ServerKeyStore


async def test_freshest_response_wins(database: Database) -> None:
    store = ServerKeyStore(database)

    async def store_response(valid_until: int, expired: bool, text: str) -> None:
        await store.store_response(
            "peer.example",
            [KeyToStore("ed25519:k", "AAAA", valid_until, expired)],
            response_json=text,
            response_valid_until_ts=valid_until,
            fetched_ts=1,
            source="peer.example",
        )

    await store_response(100, False, '{"n": 1}')
    await store_response(50, False, '{"n": 0}')  # a notary's older copy
    [key] = await store.get_keys("peer.example")
    assert (key.valid_until_ts, key.expired) == (100, False)
    await store_response(200, True, '{"n": 2}')  # rotated away since
    [key] = await store.get_keys("peer.example")
    assert (key.valid_until_ts, key.expired) == (200, True)
    assert await store.get_responses("peer.example") == {"ed25519:k": '{"n": 2}'}
    assert await store.get_keys("other.example") == []
