from __future__ import annotations

import threading

from veche.services.passwords import PasswordHasher

# Cheap parameters: these tests check behaviour, not hashing strength.
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


async def test_hash_and_verify() -> None:
    hasher = PasswordHasher(**FAST)
    try:
        password_hash = await hasher.hash("correct horse")
        assert password_hash.startswith("$argon2id$")
        assert await hasher.verify(password_hash, "correct horse")
        assert not await hasher.verify(password_hash, "wrong horse")
        assert not await hasher.verify("not a hash", "correct horse")
    finally:
        hasher.close()


async def test_runs_off_the_event_loop(monkeypatch) -> None:
    hasher = PasswordHasher(**FAST)
    threads: list[threading.Thread] = []
    real = hasher._hasher

    class Spy:
        def hash(self, password: str) -> str:
            threads.append(threading.current_thread())
            return real.hash(password)

    monkeypatch.setattr(hasher, "_hasher", Spy())
    try:
        await hasher.hash("pw")
    finally:
        hasher.close()
    assert threads and threads[0] is not threading.main_thread()


async def test_needs_rehash_when_parameters_change() -> None:
    weak = PasswordHasher(**FAST)
    strong = PasswordHasher()
    try:
        password_hash = await weak.hash("pw")
        assert not weak.needs_rehash(password_hash)
        assert strong.needs_rehash(password_hash)
    finally:
        weak.close()
        strong.close()
