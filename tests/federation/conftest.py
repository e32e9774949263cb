"""Two real Veche servers federating over TLS on loopback.

Each is named by its IP literal and port (as INTEROP.md describes for test networks), has
a TLS federation listener with a self-signed certificate made here with openssl, trusts
that certificate as a CA, and may reach loopback addresses.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from veche.config import load_config
from veche.homeserver import HomeServer, StartupError
from veche.services.passwords import PasswordHasher
from tests.api.conftest import FAST_PASSWORDS


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def federation_environ(certificate: Certificate, data_dir: Path, port: int) -> dict[str, str]:
    return {
        "VECHE_SERVER_NAME": f"127.0.0.1:{port}",
        "VECHE_LISTEN": "127.0.0.1:0",
        "VECHE_FEDERATION_LISTEN": f"127.0.0.1:{port}",
        "VECHE_TLS_CERT": str(certificate.cert),
        "VECHE_TLS_KEY": str(certificate.key),
        "VECHE_FEDERATION_CA_FILES": str(certificate.cert),
        "VECHE_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "on",
        "VECHE_DATA_DIR": str(data_dir),
        "VECHE_DATABASE": str(data_dir / "veche.db"),
        "VECHE_RATE_LIMITS": "off",
    }


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {}


async def start_server(environ: dict[str, str]) -> HomeServer:
    hs = await HomeServer.create(
        load_config(None, environ), passwords=PasswordHasher(**FAST_PASSWORDS)
    )
    try:
        await hs.start()
    except BaseException:
        await hs.stop()
        raise
    return hs


async def start_federating_server(
    certificate: Certificate, data_dir: Path, settings: dict[str, str] | None = None
) -> HomeServer:
    """A server named after a free port. The port is picked before the server binds it (the
    name must hold it), so another listener may take it meanwhile: then pick another."""
    for attempt in range(5):
        environ = federation_environ(certificate, data_dir, free_port())
        try:
            return await start_server({**environ, **(settings or {})})
        except StartupError as e:
            if "address already in use" not in str(e) or attempt == 4:
                raise
    raise AssertionError("unreachable")


@pytest.fixture
async def engine_server(
    certificate: Certificate, tmp_path: Path, migrated_database_target: str
) -> AsyncIterator[HomeServer]:
    """One Veche on SQLite and (with VECHE_TEST_POSTGRES) PostgreSQL, for tests that play
    the other servers themselves; its outbox is stopped, as their names do not resolve."""
    hs = await start_federating_server(certificate, tmp_path / "a", {"VECHE_DATABASE": migrated_database_target})
    await hs.federation_events.outbox.stop()
    try:
        yield hs
    finally:
        await hs.stop()


@pytest.fixture
async def servers(
    certificate: Certificate, tmp_path: Path, extra_settings: dict[str, str]
) -> AsyncIterator[tuple[HomeServer, HomeServer]]:
    started: list[HomeServer] = []
    try:
        for name in ("a", "b"):
            started.append(await start_federating_server(certificate, tmp_path / name, extra_settings))
        yield started[0], started[1]
    finally:
        for hs in started:
            await hs.stop()
