"""Password hashing with argon2id, always in worker threads, never on the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import argon2

from veche.memory import trim

# Each argon2id hash holds `memory_cost` KiB while it runs; bounding the workers bounds the
# memory a burst of logins can take. One at a time keeps a burst of registrations from
# adding more than 9 MiB to the process, and leaves the other cores to everything else.
MAX_CONCURRENT_HASHES = 1

# OWASP's password storage guidance rates argon2id at 9 MiB, 4 passes (equally 19 MiB,
# 2 passes) as equal to bcrypt at cost 10. Synapse's default is bcrypt cost 12, four times
# that work, so Veche runs four times the passes: at least Synapse's strength, while a hash
# adds 9 MiB to the process (RFC 9106's 64 MiB option would add 64). Hashes made with
# other parameters are redone at the next login (needs_rehash).
# Each hash first gives the heap's free pages back (`trim`, a millisecond or two in the
# hashing thread): the hash's 9 MiB then comes on top of what the server uses, not on top
# of what a burst of requests left free, which is where the process's peak is otherwise set.
TIME_COST = 16
MEMORY_COST_KIB = 9 * 1024
PARALLELISM = 1


class PasswordHasher:
    def __init__(
        self,
        time_cost: int = TIME_COST,
        memory_cost: int = MEMORY_COST_KIB,
        parallelism: int = PARALLELISM,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = ThreadPoolExecutor(MAX_CONCURRENT_HASHES, thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than today's (cheap, no hashing)."""
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _hash(self, password: str) -> str:
        trim()
        return self._hasher.hash(password)

    def _verify(self, password_hash: str, password: str) -> bool:
        trim()
        try:
            return self._hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
