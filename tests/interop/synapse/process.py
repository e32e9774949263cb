"""Running one Synapse: start, wait until it answers on both listeners, stop, restart.

Its output goes to files in its data directory; `LogMarks` lets a test report show what
Synapse logged while that test ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import aiohttp

from tests.interop.synapse.config import SynapseLayout

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


class SynapseProcess:
    def __init__(self, layout: SynapseLayout) -> None:
        self.layout = layout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self) -> None:
        with open(self.layout.stdout_path, "ab") as out:
            self._process = subprocess.Popen(
                [str(self.layout.python), "-m", "synapse.app.homeserver",
                 "--config-path", str(self.layout.config_path)],
                cwd=self.layout.data_dir, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)

    async def _wait_ready(self) -> None:
        urls = [
            f"http://127.0.0.1:{self.layout.client_port}/_matrix/client/versions",
            f"https://127.0.0.1:{self.layout.federation_port}/_matrix/federation/v1/version",
        ]
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + START_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while urls:
                if self._process is None or self._process.poll() is not None:
                    raise RuntimeError(f"Synapse exited while starting:\n{self.output_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Synapse did not answer {urls[0]} within {START_TIMEOUT_S:.0f}s:\n"
                        f"{self.output_tail()}"
                    )
                try:
                    async with http.get(urls[0], ssl=insecure) as response:
                        if response.status == 200:
                            urls.pop(0)
                            continue
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    def output_tail(self, lines: int = 60) -> str:
        text = "\n".join(_read(path) for path in (self.layout.stdout_path, self.layout.log_path))
        return "\n".join(text.splitlines()[-lines:])


class LogMarks:
    """Remembers where Synapse's log files ended, to show only what came after."""

    def __init__(self, layout: SynapseLayout) -> None:
        self._paths = (layout.log_path, layout.stdout_path)
        self._offsets = {path: 0 for path in self._paths}

    def mark(self) -> None:
        self._offsets = {path: _size(path) for path in self._paths}

    def since_mark(self, max_chars: int = 20000) -> str:
        parts = []
        for path in self._paths:
            if path.exists():
                with open(path, "rb") as file:
                    file.seek(self._offsets[path])
                    parts.append(file.read().decode(errors="replace"))
        text = "".join(parts)
        return text if len(text) <= max_chars else "…\n" + text[-max_chars:]


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
