"""Installing, configuring, starting and stopping the homeservers under test.

Both servers get equivalent settings: open registration without verification,
rate limits off, loopback only, warnings-only logging, and the same database
engine (a fresh SQLite file or a fresh PostgreSQL database per start).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = Path.home() / ".cache" / "veche-bench"
POSTGRES_ADMIN_DSN = os.environ.get(
    "VECHE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SERVER_NAME = "bench.local"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0

# Every Synapse rate limiter, raised far beyond what a benchmark can reach.
_UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}
SYNAPSE_RATE_LIMITS = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_3pid_validation": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_key_requests": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_admin_redaction": _UNLIMITED,
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_federation": {
        "window_size": 1000,
        "sleep_limit": 1_000_000,
        "sleep_delay": 0,
        "reject_limit": 1_000_000,
        "concurrent": 1_000_000,
    },
}

_WARNINGS_ONLY_LOGGING = {
    "version": 1,
    "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
    "handlers": {
        "file": {"class": "logging.FileHandler", "formatter": "plain", "filename": None},
    },
    "root": {"level": "WARNING", "handlers": ["file"]},
    "disable_existing_loggers": False,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SynapseInstallError(RuntimeError):
    """pip could not install Synapse; the message carries pip's output."""


def synapse_python(workdir: Path) -> Path:
    return workdir / "synapse-venv" / "bin" / "python"


def install_synapse(workdir: Path, version: str | None = None) -> Path:
    """Install matrix-synapse into its own venv under workdir (once); return its python."""
    python = synapse_python(workdir)
    probe = [str(python), "-c", "import synapse, psycopg2"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    workdir.mkdir(parents=True, exist_ok=True)
    # A fresh interpreter, not this venv's, so Synapse never shares packages with Veche.
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", str(python.parent.parent)], check=True)
    requirement = f"matrix-synapse[postgres]=={version}" if version else "matrix-synapse[postgres]"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", requirement], capture_output=True, text=True
    )
    if pip.returncode != 0:
        raise SynapseInstallError(f"pip install {requirement} failed:\n{pip.stdout}{pip.stderr}")
    return python


def synapse_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import synapse; print(synapse.__version__)"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


async def recreate_postgres_database(name: str) -> str:
    """Drop and create `name` with C collation (Synapse insists); return its DSN."""
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
            " LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    finally:
        await conn.close()
    base, _, _ = POSTGRES_ADMIN_DSN.rpartition("/")
    return f"{base}/{name}"


@dataclass
class Server(ABC):
    """One homeserver process under test, fresh data on every start."""

    name: str
    engine: str
    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data" / f"{self.name}-{self.engine}"

    @property
    def database_name(self) -> str:
        return f"bench_{self.name}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True)
        self.port = free_port()
        database = await self._database()
        command, env = self._command(database)
        log = open(self.data_dir / "stdout.log", "wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.data_dir, start_new_session=True,
        )
        log.close()
        await self._wait_ready()

    async def _database(self) -> str:
        if self.engine == "postgres":
            return await recreate_postgres_database(self.database_name)
        return str(self.data_dir / "homeserver.db")

    @abstractmethod
    def _command(self, database: str) -> tuple[list[str], dict[str, str]]:
        """Write the server's configuration; return its command line and environment."""

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        url = f"{self.base_url}/_matrix/client/versions"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.process.returncode} while starting;"
                        f" see {self.data_dir / 'stdout.log'}"
                    )
                try:
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.25)
        await self.stop()
        raise RuntimeError(f"{self.name} did not answer {url} within {START_TIMEOUT:.0f}s")

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)
        self.process = None


@dataclass
class SynapseServer(Server):
    python: Path = Path()

    def _command(self, database: str) -> tuple[list[str], dict[str, str]]:
        config = self.data_dir / "homeserver.yaml"
        subprocess.run(
            [str(self.python), "-m", "synapse.app.homeserver", "--server-name", SERVER_NAME,
             "--config-path", str(config), "--generate-config", "--report-stats=no"],
            cwd=self.data_dir, check=True, capture_output=True,
        )
        settings = yaml.safe_load(config.read_text())
        settings.update(SYNAPSE_RATE_LIMITS)
        logging_config = self.data_dir / "log.yaml"
        log_settings = dict(_WARNINGS_ONLY_LOGGING)
        log_settings["handlers"] = {
            "file": {**_WARNINGS_ONLY_LOGGING["handlers"]["file"],
                     "filename": str(self.data_dir / "homeserver.log")},
        }
        logging_config.write_text(yaml.safe_dump(log_settings))
        settings.update({
            "listeners": [{
                "port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http",
                "tls": False, "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }],
            "log_config": str(logging_config),
            "enable_registration": True,
            "enable_registration_without_verification": True,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "report_stats": False,
        })
        if self.engine == "postgres":
            settings["database"] = {"name": "psycopg2", "args": {
                "user": "postgres", "host": "127.0.0.1", "port": 5432,
                "dbname": self.database_name, "cp_min": 5, "cp_max": 10,
            }}
        else:
            settings["database"] = {"name": "sqlite3", "args": {"database": database}}
        config.write_text(yaml.safe_dump(settings))
        command = [str(self.python), "-m", "synapse.app.homeserver", "--config-path", str(config)]
        return command, dict(os.environ)


@dataclass
class VecheServer(Server):
    executable: Path = REPO / ".venv" / "bin" / "veche"

    def _command(self, database: str) -> tuple[list[str], dict[str, str]]:
        # The VECHE_* environment carries every setting; Veche writes the (missing)
        # config file itself on first start.
        config = self.data_dir / "veche.yaml"
        env = {
            **os.environ,
            "VECHE_SERVER_NAME": SERVER_NAME,
            "VECHE_LISTEN": f"127.0.0.1:{self.port}",
            "VECHE_DATA_DIR": str(self.data_dir),
            "VECHE_DATABASE": database,
            "VECHE_REGISTRATION": "open",
            "VECHE_RATE_LIMITS": "off",
            "VECHE_LOG_LEVEL": "WARNING",
        }
        return [str(self.executable), "serve", "--config", str(config)], env
