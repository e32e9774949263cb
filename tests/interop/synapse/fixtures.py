"""Pytest fixtures: a real Synapse and a Veche federating with it over TLS on loopback.

Import them into a test module (`from tests.interop.synapse.fixtures import ...`) and run
its tests on the module's event loop (`pytestmark = pytest.mark.asyncio(loop_scope="module")`):

- `synapse`   a started Synapse (`SynapseServer`): its URLs, server name, signing key,
              `register(localpart, admin=...)`, and `stop()`/`start()` for fault tests.
- `veche_fed` a started Veche (`VecheServer`) with a TLS federation listener: its
              HomeServer, URLs, server name and `register(localpart)`.
- `network`   both servers' links, to `partition()` and `heal()` them (healed after each test).

Both are fresh for each test module: new data directories, free ports, and the
certificate made for this test run. Each server is named by `127.0.0.1:<port>` where the
port is a `Link` forwarding to its real federation listener. When a test fails, what
Synapse logged during it is added to the failure report (Veche runs in the test process,
so its log is captured by pytest as usual).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import signedjson.key

from tests.federation.conftest import Certificate, certificate, federation_environ, free_port, start_server
from tests.interop.synapse.client import PASSWORD, MatrixClient, register
from tests.interop.synapse.config import REGISTRATION_SECRET, SynapseLayout, write_config
from tests.interop.synapse.install import synapse_python
from tests.interop.synapse.link import Link
from tests.interop.synapse.process import LogMarks, SynapseProcess
from veche.homeserver import HomeServer

__all__ = ["certificate", "network", "synapse", "veche_fed"]


@dataclass
class SynapseServer:
    layout: SynapseLayout
    process: SynapseProcess
    link: Link
    http: aiohttp.ClientSession

    @property
    def server_name(self) -> str:
        return self.layout.server_name

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.layout.client_port}"

    @property
    def federation_url(self) -> str:
        """Where peers reach it: through its link, as its server name says."""
        return f"https://{self.server_name}"

    @property
    def signing_key(self) -> signedjson.key.SigningKey:
        [key] = signedjson.key.read_signing_keys(self.layout.signing_key_path.read_text().splitlines())
        return key

    @property
    def key_id(self) -> str:
        key = self.signing_key
        return f"{key.alg}:{key.version}"

    async def register(self, localpart: str, *, admin: bool = False) -> MatrixClient:
        """A new account made with the shared-secret admin API (admins too)."""
        url = f"{self.client_url}/_synapse/admin/v1/register"
        async with self.http.get(url) as response:
            nonce = (await response.json())["nonce"]
        mac = hmac.new(REGISTRATION_SECRET.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), PASSWORD.encode(),
                                 b"admin" if admin else b"notadmin"]))
        body = {"nonce": nonce, "username": localpart, "password": PASSWORD,
                "admin": admin, "mac": mac.hexdigest()}
        async with self.http.post(url, json=body) as response:
            session: dict[str, Any] = await response.json()
            assert response.status == 200, f"Synapse refused to register {localpart}: {session}"
        return MatrixClient(self.http, self.client_url, session)

    async def stop(self) -> None:
        await self.process.stop()

    async def start(self) -> None:
        """Start again on the same data and ports (after `stop()`)."""
        await self.process.start()


@dataclass
class VecheServer:
    hs: HomeServer
    link: Link
    http: aiohttp.ClientSession

    @property
    def server_name(self) -> str:
        return self.hs.server_name

    @property
    def client_url(self) -> str:
        host, port = self.hs.bound["client"]
        return f"http://{host}:{port}"

    @property
    def federation_url(self) -> str:
        return f"https://{self.server_name}"

    async def register(self, localpart: str) -> MatrixClient:
        return await register(self.http, self.client_url, localpart)


@dataclass
class Network:
    links: tuple[Link, ...]

    def partition(self) -> None:
        for link in self.links:
            link.partition()

    def heal(self) -> None:
        for link in self.links:
            link.heal()


class _SynapseLogInReports:
    """A pytest plugin adding Synapse's log lines of a failed test to its report."""

    def __init__(self, marks: LogMarks) -> None:
        self._marks = marks

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._marks.mark()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        if report.failed:
            report.sections.append(("Synapse log during this test", self._marks.since_mark()))


async def _started_link(target_port: int) -> Link:
    link = Link(free_port(), target_port)
    await link.start()
    return link


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def synapse(
    certificate: Certificate, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[SynapseServer]:
    python = synapse_python()
    link = await _started_link(free_port())
    layout = SynapseLayout(
        python=python,
        data_dir=tmp_path_factory.mktemp("synapse"),
        server_name=f"127.0.0.1:{link.listen_port}",
        federation_port=link.target_port,
        client_port=free_port(),
        tls_cert=certificate.cert,
        tls_key=certificate.key,
    )
    write_config(layout)
    process = SynapseProcess(layout)
    plugin = _SynapseLogInReports(LogMarks(layout))
    request.config.pluginmanager.register(plugin)
    try:
        async with aiohttp.ClientSession() as http:
            await process.start()
            try:
                yield SynapseServer(layout, process, link, http)
            finally:
                await process.stop()
    finally:
        request.config.pluginmanager.unregister(plugin)
        await link.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def veche_fed(
    certificate: Certificate, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[VecheServer]:
    link = await _started_link(free_port())
    data_dir: Path = tmp_path_factory.mktemp("veche")
    environ = {
        **federation_environ(certificate, data_dir, link.listen_port),
        "VECHE_FEDERATION_LISTEN": f"127.0.0.1:{link.target_port}",
        "VECHE_REGISTRATION": "open",
    }
    try:
        hs = await start_server(environ)
        try:
            async with aiohttp.ClientSession() as http:
                yield VecheServer(hs, link, http)
        finally:
            await hs.stop()
    finally:
        await link.stop()


@pytest.fixture
def network(synapse: SynapseServer, veche_fed: VecheServer) -> Iterator[Network]:
    """The links between the servers; healed again after the test, whatever it did."""
    links = Network((synapse.link, veche_fed.link))
    try:
        yield links
    finally:
        links.heal()
