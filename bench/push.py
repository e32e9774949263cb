"""Push evaluation: what one message costs when a room has 1,000 local members.

Every new event is run through the push rules of each local member (push.md "Server
behaviour"), so a big room multiplies that work. Over the Client-Server API it cannot be
timed alone, so the scenario sends the same messages, one at a time from one sender, into a
room of 3 members and into a room of `push_room_members`, and reports both and their
difference per event: server CPU milliseconds (and PostgreSQL's, on that engine) and the
median send latency. No one syncs meanwhile, so the difference is dominated by the
members' push evaluation and the notification rows it stores, though it also holds
whatever else grows with the member count (waking members, federation fan-out); for a
breakdown, profile the server. Afterwards a member's /sync must show every message in
`unread_notifications`, or the run counts an error.
"""

from __future__ import annotations

import asyncio

from bench.client import Api, User
from bench.scenarios import Context, _public_room, percentile

SMALL_ROOM_MEMBERS = 3


async def _send_series(ctx: Context, api: Api, sender: User, room_id: str, count: int, label: str) -> tuple[list[float], dict[str, float]]:
    """Send `count` messages one at a time; (latencies, CPU seconds per process)."""
    before = await asyncio.to_thread(ctx.cpu_probe)
    latencies = []
    for i in range(count):
        response = await api.send_text(sender, room_id, f"{label} {i}")
        if response is not None:
            latencies.append(response.seconds)
    after = await asyncio.to_thread(ctx.cpu_probe)
    return latencies, {name: after[name] - before[name] for name in after}


async def _unread_count(api: Api, user: User, room_id: str) -> int | None:
    sync_filter = {"room": {"rooms": [room_id], "timeline": {"limit": 1}}}
    response = await api.sync(user, filter_json=sync_filter)
    if response is None:
        return None
    room = response.body.get("rooms", {}).get("join", {}).get(room_id, {})
    return room.get("unread_notifications", {}).get("notification_count")


async def push_evaluation(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    members = await ctx.ensure_users(max(sizes.push_room_members, SMALL_ROOM_MEMBERS))
    sender = members[0]
    async with ctx.api(sizes.setup_concurrency) as setup:
        small = await _public_room(setup, sender, members[1:SMALL_ROOM_MEMBERS], sizes.setup_concurrency)
        big = await _public_room(setup, sender, members[1 : sizes.push_room_members], sizes.setup_concurrency)
    if small is None or big is None:
        return {}
    count = sizes.push_messages
    async with ctx.api(1) as api:
        small_latencies, small_cpu = await _send_series(ctx, api, sender, small, count, "small")
        async with ctx.measured():
            big_latencies, big_cpu = await _send_series(ctx, api, sender, big, count, "big")
        unread = await _unread_count(api, members[-1], big)
    if unread != count:
        ctx.errors.record("push", f"a member of the big room has {unread} unread notifications, not {count}")
    if not small_latencies or not big_latencies:
        return {}
    figures = {
        f"p50 ms ({SMALL_ROOM_MEMBERS} members)": percentile(small_latencies, 0.5) * 1000,
        f"p50 ms ({sizes.push_room_members} members)": percentile(big_latencies, 0.5) * 1000,
    }
    for process in big_cpu:
        small_ms = small_cpu[process] / count * 1000
        big_ms = big_cpu[process] / count * 1000
        figures[f"CPU ms/event, {SMALL_ROOM_MEMBERS} members ({process})"] = small_ms
        figures[f"CPU ms/event, {sizes.push_room_members} members ({process})"] = big_ms
        figures[f"CPU ms/event added by members ({process})"] = big_ms - small_ms
    return figures
