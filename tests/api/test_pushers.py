"""Pushers over HTTP, delivering to a real push gateway this test runs on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.api.conftest import TestUser
from tests.api.userdata_helpers import call, create_room, join, send_text
from veche.services.push.pushers import RetryPolicy
from veche.services.rooms.sending import EventDraft


class Gateway:
    """A push gateway (push_notifier.yaml) that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.failures_left = 0
        self.url = ""

    async def notify(self, request: web.Request) -> web.Response:
        if self.failures_left:
            self.failures_left -= 1
            return web.Response(status=502)
        self.received.append(await request.json())
        return web.json_response({"rejected": self.rejected})


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/_matrix/push/v1/notify", gw.notify)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    gw.url = f"http://{host}:{port}/_matrix/push/v1/notify"
    try:
        yield gw
    finally:
        await runner.cleanup()


def pusher_body(url: str, pushkey: str = "key-1", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "http",
        "app_id": "org.example.app",
        "pushkey": pushkey,
        "app_display_name": "Example",
        "device_display_name": "Phone",
        "lang": "en",
        "data": {"url": url, "custom": 7, **extra},
    }


async def setup_room(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, name="Mission Control")
    await join(homeserver, room_id, bob)
    await join(homeserver, room_id, await make_user("carol"))
    return alice, bob, room_id


async def test_set_list_and_delete_pushers(http, make_user, gateway) -> None:
    bob = await make_user("bob")
    assert await call(http, "POST", "/pushers/set", bob, {**pusher_body(gateway.url), "profile_tag": "xyz"}) == (200, {})
    status, body = await call(http, "GET", "/pushers", bob)
    assert status == 200
    assert body["pushers"] == [
        {
            "pushkey": "key-1",
            "kind": "http",
            "app_id": "org.example.app",
            "app_display_name": "Example",
            "device_display_name": "Phone",
            "lang": "en",
            "profile_tag": "xyz",
            "data": {"url": gateway.url, "custom": 7},
        }
    ]
    delete = {"kind": None, "app_id": "org.example.app", "pushkey": "key-1"}
    assert await call(http, "POST", "/pushers/set", bob, delete) == (200, {})
    assert (await call(http, "GET", "/pushers", bob))[1] == {"pushers": []}


async def test_a_deleted_device_loses_its_pushers(http, make_user, gateway) -> None:
    bob = await make_user("bob")
    login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"}, "password": bob.password}
    status, session = await call(http, "POST", "/login", json=login)
    assert status == 200
    tablet = TestUser(bob.user_id, session["device_id"], session["access_token"], bob.password)
    assert (await call(http, "POST", "/pushers/set", bob, pusher_body(gateway.url, pushkey="phone")))[0] == 200
    assert (await call(http, "POST", "/pushers/set", tablet, pusher_body(gateway.url, pushkey="tablet")))[0] == 200

    assert await call(http, "POST", "/logout", tablet) == (200, {})
    pushers = (await call(http, "GET", "/pushers", bob))[1]["pushers"]
    assert [p["pushkey"] for p in pushers] == ["phone"]

    assert await call(http, "POST", "/logout/all", bob) == (200, {})
    status, session = await call(http, "POST", "/login", json=login)
    again = TestUser(bob.user_id, session["device_id"], session["access_token"], bob.password)
    assert (await call(http, "GET", "/pushers", again))[1] == {"pushers": []}


async def test_invalid_pushers_are_refused(http, make_user, gateway) -> None:
    bob = await make_user("bob")
    email = {**pusher_body(gateway.url), "kind": "email", "app_id": "m.email", "pushkey": "bob@example.org"}
    assert (await call(http, "POST", "/pushers/set", bob, email))[0] == 400
    missing = pusher_body(gateway.url)
    del missing["lang"]
    status, error = await call(http, "POST", "/pushers/set", bob, missing)
    assert status == 400 and error["errcode"] == "M_MISSING_PARAM"
    wrong_path = pusher_body(gateway.url.replace("/notify", "/other"))
    assert (await call(http, "POST", "/pushers/set", bob, wrong_path))[0] == 400
    assert (await call(http, "POST", "/pushers/set", bob, pusher_body(gateway.url, pushkey="k" * 513)))[0] == 400


async def test_pushkey_moves_between_users_unless_appended(http, make_user, gateway) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    assert (await call(http, "POST", "/pushers/set", alice, pusher_body(gateway.url)))[0] == 200
    assert (await call(http, "POST", "/pushers/set", bob, {**pusher_body(gateway.url), "append": True}))[0] == 200
    assert len((await call(http, "GET", "/pushers", alice))[1]["pushers"]) == 1
    assert (await call(http, "POST", "/pushers/set", bob, pusher_body(gateway.url)))[0] == 200
    assert (await call(http, "GET", "/pushers", alice))[1]["pushers"] == []


async def test_full_notification_reaches_the_gateway(http, homeserver, make_user, gateway) -> None:
    alice, bob, room_id = await setup_room(http, homeserver, make_user)
    assert (await call(http, "POST", "/pushers/set", bob, pusher_body(gateway.url)))[0] == 200
    member = EventDraft("m.room.member", {"membership": "join", "displayname": "Major Tom"}, alice.user_id)
    await homeserver.sender.send(room_id, alice.user_id, member)
    event_id = await send_text(http, alice, room_id, "hi bob", **{"m.mentions": {"user_ids": [bob.user_id]}})
    await homeserver.pushers.wait_idle()
    assert len(gateway.received) == 1
    notification = gateway.received[0]["notification"]
    device = notification.pop("devices")
    assert notification == {
        "event_id": event_id,
        "room_id": room_id,
        "type": "m.room.message",
        "sender": alice.user_id,
        "sender_display_name": "Major Tom",
        "room_name": "Mission Control",
        "prio": "high",
        "content": {"msgtype": "m.text", "body": "hi bob", "m.mentions": {"user_ids": [bob.user_id]}},
        "counts": {"unread": 1},
    }
    assert len(device) == 1
    assert device[0]["app_id"] == "org.example.app" and device[0]["pushkey"] == "key-1"
    assert device[0]["data"] == {"custom": 7}  # everything but the url
    assert device[0]["tweaks"] == {"sound": "default", "highlight": True}
    assert isinstance(device[0]["pushkey_ts"], int)


async def test_event_id_only_format_and_no_push_for_own_events(http, homeserver, make_user, gateway) -> None:
    alice, bob, room_id = await setup_room(http, homeserver, make_user)
    body = pusher_body(gateway.url, format="event_id_only")
    assert (await call(http, "POST", "/pushers/set", bob, body))[0] == 200
    await send_text(http, bob, room_id, "my own")
    first = await send_text(http, alice, room_id, "one")
    second = await send_text(http, alice, room_id, "two")
    await homeserver.pushers.wait_idle()
    sent = [r["notification"] for r in gateway.received]
    assert [n["event_id"] for n in sent] == [first, second]
    assert set(sent[1]) == {"event_id", "room_id", "counts", "devices"}
    assert sent[1]["counts"] == {"unread": 2}
    assert sent[1]["devices"][0]["data"] == {"custom": 7, "format": "event_id_only"}


async def test_retries_with_back_off_then_rejected_pushkeys_lose_their_pusher(
    http, homeserver, make_user, gateway
) -> None:
    homeserver.pushers.retry = RetryPolicy(first_delay=0.01, max_delay=0.05, max_attempts=5, timeout=5)
    alice, bob, room_id = await setup_room(http, homeserver, make_user)
    assert (await call(http, "POST", "/pushers/set", bob, pusher_body(gateway.url)))[0] == 200
    gateway.failures_left = 2
    await send_text(http, alice, room_id, "after two failures")
    await homeserver.pushers.wait_idle()
    assert [r["notification"]["content"]["body"] for r in gateway.received] == ["after two failures"]

    gateway.rejected = ["key-1"]
    await send_text(http, alice, room_id, "rejected")
    await homeserver.pushers.wait_idle()
    assert (await call(http, "GET", "/pushers", bob))[1] == {"pushers": []}
    await send_text(http, alice, room_id, "nobody to push to")
    await homeserver.pushers.wait_idle()
    assert len(gateway.received) == 2
