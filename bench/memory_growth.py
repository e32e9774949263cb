"""How Veche's memory grows with rooms and users: `python -m bench.memory_growth`.

The accounts are written straight into a fresh SQLite database before Veche starts, all
with one argon2 hash computed once: registering 10,000 users over HTTP would spend hours
hashing passwords and measure nothing more. Veche then serves them; in steps, more of
them become active. An active user creates a private room, sends a message into it and
runs an initial `/sync`, so each step adds as many rooms as users. After each step the
server's PSS is read once the server has been quiet for a moment.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.client import Api, ErrorLog, User
from bench.procstat import tree_usage
from bench.servers import DEFAULT_WORKDIR, SERVER_NAME, VecheServer

CONCURRENCY = 8
SETTLE_SECONDS = 5.0
PASSWORD = "memory-growth"
FILL_BATCH = 200  # accounts created concurrently, so their commits are grouped


@dataclass
class PrefilledVeche(VecheServer):
    """Veche over a database that already holds `users` accounts with access tokens."""

    users: int = 0
    tokens: list[User] | None = None

    async def _database(self) -> str:
        # Imported here: the rest of the harness runs without Veche's packages.
        from veche.services.passwords import PasswordHasher
        from veche.storage.accounts import AccountStore
        from veche.storage.database import open_database

        path = await super()._database()
        # Not durable: a crash while filling only means starting the measurement again.
        db = await open_database(path, synchronous="OFF")
        hasher = PasswordHasher()
        try:
            password_hash = await hasher.hash(PASSWORD)
            accounts = AccountStore(db)

            async def create(i: int) -> User:
                user_id = f"@grow{i}:{SERVER_NAME}"
                await accounts.create_account(user_id, password_hash)
                await accounts.create_device(user_id, "GROW")
                return User(user_id, await accounts.create_access_token(user_id, "GROW"))

            self.tokens = []
            for start in range(0, self.users, FILL_BATCH):
                batch = range(start, min(start + FILL_BATCH, self.users))
                self.tokens += await asyncio.gather(*(create(i) for i in batch))
        finally:
            hasher.close()
            await db.close()
        return path


async def _activate(api: Api, user: User, index: int) -> None:
    room_id = await api.create_room(user, preset="private_chat", name=f"room {index}")
    if room_id is None:
        return
    await api.send_text(user, room_id, f"hello from {index}")
    await api.sync(user)


def _pss_mb(pid: int) -> float:
    return tree_usage(pid).memory_bytes / 2**20


async def measure(steps: list[int], workdir: Path) -> list[tuple[int, float]]:
    server = PrefilledVeche("veche", "sqlite", workdir, users=max(steps))
    await server.start()
    errors = ErrorLog()
    figures = [(0, _pss_mb(server.pid))]
    print(f"{0:>6} users/rooms active: {figures[-1][1]:6.1f} MB", flush=True)
    try:
        async with Api(server.base_url, CONCURRENCY, errors) as api:
            assert server.tokens is not None
            done = 0
            limit = asyncio.Semaphore(CONCURRENCY)

            async def one(i: int) -> None:
                async with limit:
                    await _activate(api, server.tokens[i], i)

            for step in steps:
                await asyncio.gather(*(one(i) for i in range(done, step)))
                done = step
                await asyncio.sleep(SETTLE_SECONDS)
                figures.append((step, _pss_mb(server.pid)))
                print(f"{step:>6} users/rooms active: {figures[-1][1]:6.1f} MB", flush=True)
    finally:
        await server.stop()
    if errors.total:
        print(f"{errors.total} errors, e.g. {errors.examples}", file=sys.stderr)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_growth", description=__doc__)
    parser.add_argument("--steps", default="1000,5000,10000",
                        help="comma-separated counts of active users (each with a room)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    steps = sorted(int(s) for s in args.steps.split(","))
    asyncio.run(measure(steps, args.workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
