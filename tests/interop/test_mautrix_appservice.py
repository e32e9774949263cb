"""Veche with a bridge built on mautrix-python's `AppService` (PyPI `mautrix`, the base of
the mautrix bridges): the bridge receives a user's message in a transaction, registers a
ghost user, joins it to the room and sends as it by `user_id` masquerading, and pings
itself through the homeserver."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

mautrix = pytest.importorskip("mautrix")

from mautrix.appservice import AppService  # noqa: E402
from mautrix.types import Event, EventType, MessageEvent, TextMessageEventContent  # noqa: E402

from tests.api.appservice_helpers import AS_TOKEN, HS_TOKEN, write_registration  # noqa: E402
from tests.api.conftest import SERVER_NAME, TestUser, make_user  # noqa: E402, F401  (fixture)
from veche.homeserver import HomeServer  # noqa: E402

GHOST = f"@bridge_remote:{SERVER_NAME}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bridge_port() -> int:
    return _free_port()


@pytest.fixture
def server_settings(bridge_port: int, tmp_path: Path) -> dict[str, str]:
    path = write_registration(tmp_path / "bridge.yaml", f"http://127.0.0.1:{bridge_port}")
    return {"VECHE_APPSERVICE_CONFIG_FILES": str(path), "VECHE_REGISTRATION": "open"}


@pytest.fixture
async def bridge(homeserver: HomeServer, base_url: str, bridge_port: int) -> AsyncIterator[AppService]:
    appservice = AppService(
        server=base_url,
        domain=SERVER_NAME,
        as_token=AS_TOKEN,
        hs_token=HS_TOKEN,
        bot_localpart="bridgebot",
        id="bridge",
    )
    await appservice.start("127.0.0.1", bridge_port)
    try:
        yield appservice
    finally:
        await appservice.stop()


async def test_a_mautrix_bridge_relays_both_ways(
    bridge: AppService, base_url: str, make_user, homeserver: HomeServer  # noqa: F811
) -> None:
    received: asyncio.Queue[Event] = asyncio.Queue()

    @bridge.matrix_event_handler
    async def on_event(event: Event) -> None:
        await received.put(event)

    alice: TestUser = await make_user("alice")
    async with aiohttp.ClientSession(base_url=base_url) as http:
        async with http.post(
            "/_matrix/client/v3/createRoom", json={"preset": "public_chat"}, headers=alice.headers
        ) as response:
            room_id = (await response.json())["room_id"]

        await bridge.intent.join_room(room_id)
        ghost = bridge.intent.user(GHOST)
        await ghost.ensure_registered()
        await ghost.ensure_joined(room_id)
        assert await ghost.whoami() is not None

        async with http.put(
            f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/1",
            json={"msgtype": "m.text", "body": "hello bridge"},
            headers=alice.headers,
        ) as response:
            alice_event = (await response.json())["event_id"]
        message = await _next_message(received, alice_event)
        assert message.sender == alice.user_id
        assert message.content.body == "hello bridge"

        sent = await ghost.send_message(room_id, TextMessageEventContent(body="hello from the other side"), timestamp=1700000000000)
        async with http.get(f"/_matrix/client/v3/rooms/{room_id}/event/{sent}", headers=alice.headers) as response:
            event = await response.json()
        assert event["sender"] == GHOST
        assert event["content"]["body"] == "hello from the other side"
        assert event["origin_server_ts"] == 1700000000000
        # The bridge hears its own ghost's message too, as Synapse sends it.
        echoed = await _next_message(received, sent)
        assert echoed.sender == GHOST

    # mautrix reads a 0 ms duration as -1; what matters is that the ping went through.
    assert isinstance(await bridge.ping_self("ping-1"), int)


async def _next_message(received: asyncio.Queue[Event], event_id: str) -> MessageEvent:
    while True:
        event = await asyncio.wait_for(received.get(), 10)
        if event.type == EventType.ROOM_MESSAGE and event.event_id == event_id:
            return event
