"""An acknowledged write survives `kill -9` and a restart, on both engines.

Veche runs as its own process (`python -m veche serve`); the test sends over HTTP, kills
the process without warning right after the last acknowledgement, starts it again on the
same data, and reads everything back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

MESSAGES = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, data_dir: Path, database: str, extra_env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VECHE_")},
            "VECHE_SERVER_NAME": "durable.test",
            "VECHE_LISTEN": f"127.0.0.1:{self.port}",
            "VECHE_DATA_DIR": str(data_dir),
            "VECHE_DATABASE": database,
            "VECHE_REGISTRATION": "open",
            "VECHE_RATE_LIMITS": "off",
            "VECHE_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self._config = data_dir / "veche.yaml"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "veche", "serve", "--config", str(self._config), env=self._env
        )
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{self.url}/_matrix/client/versions") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("Veche did not start")

    async def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


@pytest.fixture
async def server(tmp_path: Path, database_target: str) -> AsyncIterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", database_target)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def _post(http: aiohttp.ClientSession, url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _register(http: aiohttp.ClientSession, server: ServerProcess, username: str) -> str:
    account = await _post(
        http, f"{server.url}/_matrix/client/v3/register",
        {"username": username, "password": "durable password", "auth": {"type": "m.login.dummy"}},
    )
    return account["access_token"]


async def _send(http: aiohttp.ClientSession, server: ServerProcess, room_id: str, i: int, token: str) -> str:
    async with http.put(
        f"{server.url}/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{i}",
        json={"msgtype": "m.text", "body": f"message {i}"}, headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def test_acknowledged_events_survive_kill_9(server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        token = await _register(http, server, "alice")
        bob_token = await _register(http, server, "bob")
        room_id = (await _post(http, f"{server.url}/_matrix/client/v3/createRoom", {}, token))["room_id"]
        await _post(http, f"{server.url}/_matrix/client/v3/rooms/{room_id}/invite", {"user_id": "@bob:durable.test"}, token)
        await _post(http, f"{server.url}/_matrix/client/v3/join/{room_id}", {}, bob_token)
        sent = [await _send(http, server, room_id, i, token) for i in range(MESSAGES)]
        await server.kill()

    await server.start()
    async with aiohttp.ClientSession() as http:
        login = await _post(
            http, f"{server.url}/_matrix/client/v3/login",
            {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
             "password": "durable password"},
        )
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        # Each acknowledged transaction ID survived with its event: a retry sends nothing new.
        assert [await _send(http, server, room_id, i, token) for i in range(MESSAGES)] == sent
        async with http.get(
            f"{server.url}/_matrix/client/v3/rooms/{room_id}/messages",
            params={"dir": "b", "limit": str(MESSAGES + 20)}, headers=headers,
        ) as response:
            assert response.status == 200, await response.text()
            chunk = (await response.json())["chunk"]
        # So did the notification each message made for the other member.
        async with http.get(
            f"{server.url}/_matrix/client/v3/notifications",
            params={"limit": str(MESSAGES + 20)}, headers={"Authorization": f"Bearer {bob_token}"},
        ) as response:
            assert response.status == 200, await response.text()
            notified = [n["event"]["event_id"] for n in (await response.json())["notifications"]]
    found = [e["event_id"] for e in reversed(chunk) if e["type"] == "m.room.message"]
    assert found == sent
    assert [e for e in reversed(notified) if e in sent] == sent
