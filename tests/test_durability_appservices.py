"""Events an application service has not accepted survive `kill -9`: after the restart the
service gets every one of them, in order (at-least-once delivery from a durable position)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.api.appservice_helpers import AS_TOKEN, FakeAppService, write_registration
from tests.test_durability import ServerProcess, _post, _register, _send

MESSAGES = 10


@pytest.fixture
async def fake_as() -> AsyncIterator[FakeAppService]:
    async with FakeAppService() as service:
        yield service


@pytest.fixture
async def server(tmp_path: Path, database_target: str, fake_as: FakeAppService) -> AsyncIterator[ServerProcess]:
    registration = write_registration(tmp_path / "bridge.yaml", fake_as.url)
    process = ServerProcess(tmp_path / "data", database_target, {"VECHE_APPSERVICE_CONFIG_FILES": str(registration)})
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def test_undelivered_events_survive_kill_9(server: ServerProcess, fake_as: FakeAppService) -> None:
    async with aiohttp.ClientSession() as http:
        token = await _register(http, server, "alice")
        room_id = (await _post(http, f"{server.url}/_matrix/client/v3/createRoom", {"preset": "public_chat"}, token))["room_id"]
        await _post(http, f"{server.url}/_matrix/client/v3/join/{room_id}", {}, AS_TOKEN)
        await fake_as.wait_for(lambda: bool(fake_as.transactions))
        fake_as.fail_next = [503] * 100_000
        sent = [await _send(http, server, room_id, i, token) for i in range(MESSAGES)]
        await server.kill()

    fake_as.fail_next = []
    await server.start()

    def received() -> list[str]:
        return [event["event_id"] for event in fake_as.events() if event["event_id"] in sent]

    await fake_as.wait_for(lambda: len(received()) >= MESSAGES, timeout=30)
    assert received() == sent
