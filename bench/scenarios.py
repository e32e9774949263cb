"""The benchmark scenarios, one function each, run in order against one fresh server.

Each scenario builds what it needs (users, rooms, history) untimed, then times
its measured part inside `Context.measured()`, which also takes the servers'
CPU seconds. Later scenarios reuse what earlier ones built (the registered
users, the 5,000-message room) through `Context`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.client import Api, ErrorLog, Response, User

PASSWORD = "bench-password-1"
FANOUT_DEADLINE = 45.0


@dataclass(frozen=True)
class Sizes:
    register_users: int = 200
    register_concurrency: int = 8
    create_rooms: int = 200
    create_concurrency: int = 8
    send_messages: int = 5000
    send_senders: int = 10
    send_concurrency: int = 32
    sequential_sends: int = 500
    fanout_receivers: int = 20
    fanout_messages: int = 300
    fanout_interval: float = 0.010
    sync_rooms: int = 100
    sync_messages_per_room: int = 50
    sync_members_per_room: int = 5
    sync_timeline_limit: int = 10
    page_limit: int = 100
    join_room_members: int = 500
    push_room_members: int = 1000
    push_messages: int = 100
    setup_concurrency: int = 8


FULL = Sizes()
SMOKE = Sizes(
    register_users=4, register_concurrency=2, create_rooms=4, create_concurrency=2,
    send_messages=20, send_senders=2, send_concurrency=4, sequential_sends=5,
    fanout_receivers=2, fanout_messages=5, sync_rooms=3, sync_messages_per_room=3,
    sync_members_per_room=2, page_limit=5, join_room_members=4, push_room_members=6,
    push_messages=3, setup_concurrency=2,
)


class ScenarioAborted(Exception):
    """A scenario cannot go on (its setup failed); the failing requests are already counted."""


@dataclass
class Clock:
    seconds: float = 0.0


def _no_cpu_probe() -> dict[str, float]:
    return {}


@dataclass
class Context:
    """What one server run has built so far, shared by the scenarios in order."""

    base_url: str
    sizes: Sizes
    errors: ErrorLog = field(default_factory=ErrorLog)
    users: list[User] = field(default_factory=list)
    next_user: int = 0
    send_room: str | None = None
    sync_user: User | None = None
    sync_peer: User | None = None
    sync_rooms: list[str] = field(default_factory=list)
    sync_since: str | None = None
    cpu_probe: Callable[[], dict[str, float]] = _no_cpu_probe
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @asynccontextmanager
    async def measured(self) -> AsyncIterator[Clock]:
        """Time a block and add the servers' CPU seconds spent in it to `cpu_seconds`."""
        before = await asyncio.to_thread(self.cpu_probe)
        clock = Clock()
        started = time.perf_counter()
        try:
            yield clock
        finally:
            clock.seconds = time.perf_counter() - started
            after = await asyncio.to_thread(self.cpu_probe)
            for name, value in after.items():
                self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + value - before[name]

    def api(self, concurrency: int) -> Api:
        return Api(self.base_url, concurrency, self.errors)

    async def ensure_users(self, count: int) -> list[User]:
        """The first `count` registered users, registering more as needed."""
        missing = count - len(self.users)
        if missing > 0:
            async with self.api(self.sizes.setup_concurrency) as api:
                names = [self.new_username() for _ in range(missing)]
                registered = await gather_limited(
                    [lambda n=n: api.register(n, PASSWORD) for n in names],
                    self.sizes.setup_concurrency,
                )
            self.users.extend(u for u in registered if u is not None)
        if len(self.users) < count:
            raise ScenarioAborted(f"only {len(self.users)} of {count} users could register")
        return self.users[:count]

    async def fresh_user(self) -> User:
        """A newly registered user in no room, kept out of the shared pool."""
        async with self.api(1) as api:
            user = await api.register(self.new_username(), PASSWORD)
        if user is None:
            raise ScenarioAborted("a user could not register")
        return user

    def new_username(self) -> str:
        self.next_user += 1
        return f"bench{self.next_user}"


async def gather_limited(
    calls: list[Callable[[], Awaitable[Any]]], concurrency: int
) -> list[Any]:
    """Run the calls with at most `concurrency` in flight; results in call order."""
    results: list[Any] = [None] * len(calls)
    indices = iter(range(len(calls)))

    async def worker() -> None:
        for index in indices:
            results[index] = await calls[index]()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(calls)))))
    return results


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; the benchmark's samples are large enough for it."""
    ordered = sorted(values)
    # The small epsilon keeps 0.99 * 100 from rounding up to rank 100.
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered) - 1e-9) - 1))
    return ordered[rank]


def _latency_figures(seconds: list[float], prefix: str = "") -> dict[str, float]:
    if not seconds:
        return {}
    return {
        f"{prefix}p50 ms": percentile(seconds, 0.50) * 1000,
        f"{prefix}p99 ms": percentile(seconds, 0.99) * 1000,
    }


async def _public_room(api: Api, creator: User, members: list[User], concurrency: int) -> str | None:
    room_id = await api.create_room(creator, preset="public_chat")
    if room_id is not None:
        await gather_limited([lambda m=m: api.join(m, room_id) for m in members], concurrency)
    return room_id


# -- scenarios ---------------------------------------------------------------------------


async def register(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    async with ctx.api(sizes.register_concurrency) as api:
        names = [ctx.new_username() for _ in range(sizes.register_users)]
        async with ctx.measured() as clock:
            users = await gather_limited(
                [lambda n=n: api.register(n, PASSWORD) for n in names], sizes.register_concurrency
            )
    ctx.users.extend(u for u in users if u is not None)
    return {"users/s": sizes.register_users / clock.seconds}


async def create_rooms(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    creators = await ctx.ensure_users(sizes.create_concurrency)
    async with ctx.api(sizes.create_concurrency) as api:
        async with ctx.measured() as clock:
            await gather_limited(
                [lambda i=i: api.create_room(creators[i % len(creators)], preset="public_chat")
                 for i in range(sizes.create_rooms)],
                sizes.create_concurrency,
            )
    return {"rooms/s": sizes.create_rooms / clock.seconds}


async def send_concurrent(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    senders = await ctx.ensure_users(sizes.send_senders)
    async with ctx.api(sizes.send_concurrency) as api:
        ctx.send_room = await _public_room(api, senders[0], senders[1:], sizes.setup_concurrency)
        if ctx.send_room is None:
            return {}
        room = ctx.send_room
        async with ctx.measured() as clock:
            responses = await gather_limited(
                [lambda i=i: api.send_text(senders[i % len(senders)], room, f"message {i}")
                 for i in range(sizes.send_messages)],
                sizes.send_concurrency,
            )
    latencies = [r.seconds for r in responses if r is not None]
    return {"events/s": sizes.send_messages / clock.seconds, **_latency_figures(latencies)}


async def send_sequential(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    if ctx.send_room is None:
        return {}
    sender = (await ctx.ensure_users(1))[0]
    latencies = []
    async with ctx.api(1) as api, ctx.measured():
        for i in range(sizes.sequential_sends):
            response = await api.send_text(sender, ctx.send_room, f"sequential {i}")
            if response is not None:
                latencies.append(response.seconds)
    return {"p50 ms": percentile(latencies, 0.5) * 1000} if latencies else {}


def _timeline_bodies(response: Response, room_id: str) -> list[str]:
    room = ((response.body or {}).get("rooms", {}).get("join", {})).get(room_id, {})
    return [
        e.get("content", {}).get("body", "")
        for e in room.get("timeline", {}).get("events", [])
    ]


async def fanout(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    users = await ctx.ensure_users(sizes.fanout_receivers + 1)
    sender, receivers = users[0], users[1:]
    async with ctx.api(sizes.setup_concurrency) as setup:
        room = await _public_room(setup, sender, receivers, sizes.setup_concurrency)
    if room is None:
        return {}
    sync_filter = {
        "room": {"rooms": [room], "timeline": {"limit": sizes.fanout_messages + 50}},
        "presence": {"types": []},
        "account_data": {"types": []},
    }
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    primed: list[User] = []
    all_primed = asyncio.Event()
    finished = [asyncio.Event() for _ in receivers]

    async def receive(api: Api, user: User, done: asyncio.Event) -> None:
        first = await api.sync(user, filter_json=sync_filter)
        primed.append(user)
        if len(primed) == len(receivers):
            all_primed.set()
        since = first.body["next_batch"] if first else None
        seen: set[int] = set()
        while since is not None and len(seen) < sizes.fanout_messages:
            response = await api.sync(user, since=since, timeout_ms=30_000, filter_json=sync_filter)
            arrived = time.perf_counter()
            if response is None:
                return
            since = response.body["next_batch"]
            for body in _timeline_bodies(response, room):
                index = int(body.split()[1]) if body.startswith("fanout ") else -1
                if index in sent_at and index not in seen:
                    seen.add(index)
                    latencies.append(arrived - sent_at[index])
        done.set()

    async def send_one(api: Api, index: int) -> None:
        sent_at[index] = time.perf_counter()
        await api.send_text(sender, room, f"fanout {index}")

    async with ctx.api(len(receivers)) as receive_api, ctx.api(8) as send_api:
        tasks = [asyncio.create_task(receive(receive_api, u, d))
                 for u, d in zip(receivers, finished)]
        try:
            await asyncio.wait_for(all_primed.wait(), timeout=FANOUT_DEADLINE)
            # Let every receiver's long-poll reach the server before the first send.
            await asyncio.sleep(0.5)
            async with ctx.measured():
                sends = []
                for index in range(sizes.fanout_messages):
                    sends.append(asyncio.create_task(send_one(send_api, index)))
                    await asyncio.sleep(sizes.fanout_interval)
                await asyncio.gather(*sends)
                await asyncio.wait_for(
                    asyncio.gather(*(d.wait() for d in finished)), timeout=FANOUT_DEADLINE
                )
        except TimeoutError:
            ctx.errors.record("fanout", "deliveries missing at the deadline")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    expected = sizes.fanout_messages * len(receivers)
    if len(latencies) < expected:
        ctx.errors.record("fanout", f"{expected - len(latencies)} of {expected} deliveries missing")
    if not latencies:
        return {}
    return {**_latency_figures(latencies), "max ms": max(latencies) * 1000}


async def _build_sync_user(ctx: Context) -> None:
    """One user in many rooms, each with a few members and some history."""
    sizes = ctx.sizes
    owner = await ctx.fresh_user()
    others = await ctx.ensure_users(sizes.sync_members_per_room + 10)
    per_room = sizes.sync_members_per_room - 1
    async with ctx.api(sizes.send_concurrency) as api:
        rooms = await gather_limited(
            [lambda: api.create_room(owner, preset="public_chat") for _ in range(sizes.sync_rooms)],
            sizes.setup_concurrency,
        )
        rooms = [r for r in rooms if r is not None]
        members = {
            room: [others[(i + k) % len(others)] for k in range(per_room)]
            for i, room in enumerate(rooms)
        }
        await gather_limited(
            [lambda r=r, m=m: api.join(m, r) for r in rooms for m in members[r]],
            sizes.setup_concurrency,
        )
        senders = {room: [owner, *members[room]] for room in rooms}
        await gather_limited(
            [lambda r=r, i=i: api.send_text(senders[r][i % len(senders[r])], r, f"history {i}")
             for r in rooms for i in range(sizes.sync_messages_per_room)],
            sizes.send_concurrency,
        )
    ctx.sync_user, ctx.sync_rooms = owner, rooms
    # others[0] is a member of the first room (k = 0 above), so it can post there.
    ctx.sync_peer = others[0] if rooms and per_room > 0 else None


async def initial_sync(ctx: Context) -> dict[str, float]:
    await _build_sync_user(ctx)
    if ctx.sync_user is None:
        return {}
    figures: dict[str, float] = {}
    limited = {"room": {"timeline": {"limit": ctx.sizes.sync_timeline_limit}}}
    async with ctx.api(1) as api, ctx.measured():
        # One request each: Synapse caches a sync answer for minutes, so a repeat would
        # measure its cache rather than its sync.
        full = await api.sync(ctx.sync_user)
        if full is not None:
            figures["unfiltered s"] = full.seconds
            figures["unfiltered KB"] = full.size / 1024
            ctx.sync_since = full.body["next_batch"]
        small = await api.sync(ctx.sync_user, filter_json=limited)
        if small is not None:
            figures["timeline 10 s"] = small.seconds
            figures["timeline 10 KB"] = small.size / 1024
    return figures


async def incremental_sync(ctx: Context) -> dict[str, float]:
    if ctx.sync_user is None or ctx.sync_peer is None or ctx.sync_since is None:
        return {}
    room = ctx.sync_rooms[0]
    async with ctx.api(1) as api:
        caught_up = await api.sync(ctx.sync_user, since=ctx.sync_since)
        if caught_up is None:
            return {}
        if await api.send_text(ctx.sync_peer, room, "one new message") is None:
            return {}
        async with ctx.measured():
            response = await api.sync(ctx.sync_user, since=caught_up.body["next_batch"])
    if response is None:
        return {}
    if "one new message" not in _timeline_bodies(response, room):
        ctx.errors.record("sync", "incremental sync lacks the new message")
    return {"ms": response.seconds * 1000}


async def paginate(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    if ctx.send_room is None:
        return {}
    reader = (await ctx.ensure_users(1))[0]
    expected = sizes.send_messages + sizes.sequential_sends
    max_pages = expected // sizes.page_limit + 20
    pages = events = 0
    token: str | None = None
    async with ctx.api(1) as api:
        async with ctx.measured() as clock:
            for _ in range(max_pages):
                response = await api.messages(reader, ctx.send_room, token, sizes.page_limit)
                if response is None:
                    break
                pages += 1
                chunk = response.body.get("chunk", [])
                events += sum(1 for e in chunk if e.get("type") == "m.room.message")
                token = response.body.get("end")
                if not chunk or token is None:
                    break
    if events < expected:
        ctx.errors.record("messages", f"paginated {events} of {expected} messages")
    return {"pages/s": pages / clock.seconds, "pages": pages}


async def join_large_room(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    members = await ctx.ensure_users(sizes.join_room_members)
    joiner = await ctx.fresh_user()
    async with ctx.api(sizes.setup_concurrency) as setup:
        room = await _public_room(setup, members[0], members[1:], sizes.setup_concurrency)
    if room is None:
        return {}
    figures: dict[str, float] = {}
    async with ctx.api(1) as api, ctx.measured():
        joined = await api.join(joiner, room)
        if joined is None:
            return {}
        figures["join s"] = joined.seconds
        first = await api.sync(joiner)
        if first is not None:
            figures["first sync s"] = first.seconds
            figures["first sync KB"] = first.size / 1024
    return figures


Scenario = Callable[[Context], Awaitable[dict[str, float]]]

# Names stay short; docs/benchmarks.md gives the sizes behind each one.
SCENARIOS: list[tuple[str, Scenario]] = [
    ("register", register),
    ("createRoom", create_rooms),
    ("send concurrent", send_concurrent),
    ("send sequential", send_sequential),
    ("fan-out", fanout),
    ("initial sync", initial_sync),
    ("incremental sync", incremental_sync),
    ("paginate", paginate),
    ("join large room", join_large_room),
]
