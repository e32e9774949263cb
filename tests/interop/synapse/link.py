"""A TCP link in front of a server's federation port, which a test can cut and heal.

Each server's name carries the link's port, so every federation connection between
the two servers passes through a link; cutting both is a network partition. Bytes pass
through untouched (TLS included), so neither server can tell a link is there.
"""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = 65536


class Link:
    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.listen_port = listen_port
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.cut = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.listen_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._drop_connections()
            await self._server.wait_closed()
            self._server = None

    def partition(self) -> None:
        """Refuse new connections and break open ones, as a broken network would."""
        self.cut = True
        self._drop_connections()

    def heal(self) -> None:
        self.cut = False

    def _drop_connections(self) -> None:
        for task in list(self._connections):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._forward(reader, writer)
        finally:
            self._connections.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except (OSError, asyncio.CancelledError):
            writer.transport.abort()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except asyncio.CancelledError:
            # A partition: reset both sides rather than closing politely.
            writer.transport.abort()
            up_writer.transport.abort()
        finally:
            for side in (writer, up_writer):
                side.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
