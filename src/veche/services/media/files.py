"""Media bytes on disk, each file named by the SHA-256 of its content.

    <root>/content/ab/cd/abcd…      the content
    <root>/thumbnails/ab/cd/abcd…/  thumbnails made from it, named by size and method
    <root>/tmp/                     uploads in progress

Identical uploads land on the same name, so they are stored once. Every write goes to a
temporary file first and is renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from veche.errors import MatrixError

# Upload chunks are gathered to about this size before each write, so a big upload costs
# few thread hops.
_WRITE_BATCH = 1024 * 1024
# Enough to recognise any image format by its magic number.
HEAD_SIZE = 32


@dataclass(frozen=True, slots=True)
class SpooledUpload:
    """An upload fully received into a temporary file, not yet named by its hash."""

    path: Path
    sha256: str
    size: int
    head: bytes


def too_large(max_size: int) -> MatrixError:
    return MatrixError(413, "M_TOO_LARGE", f"Cannot upload files larger than {max_size} bytes")


class ContentFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def prepare(self) -> None:
        for sub in ("content", "thumbnails", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Leftovers of uploads cut short by a crash.
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)

    def content_path(self, sha256: str) -> Path:
        return self.root / "content" / sha256[:2] / sha256[2:4] / sha256

    def thumbnail_dir(self, sha256: str) -> Path:
        return self.root / "thumbnails" / sha256[:2] / sha256[2:4] / sha256

    async def spool(self, chunks: AsyncIterable[bytes], max_size: int) -> SpooledUpload:
        """Writes the stream to a temporary file, refusing it (413) as soon as it exceeds
        `max_size`, before the rest is read."""
        fd, name = tempfile.mkstemp(dir=self._tmp)
        path = Path(name)
        digest = hashlib.sha256()
        size = 0
        head = b""
        pending: list[bytes] = []
        pending_size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_size:
                        raise too_large(max_size)
                    if len(head) < HEAD_SIZE:
                        head = (head + chunk)[:HEAD_SIZE]
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= _WRITE_BATCH:
                        await asyncio.to_thread(_write_and_hash, out, digest, pending)
                        pending, pending_size = [], 0
                await asyncio.to_thread(_write_and_hash, out, digest, pending, True)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return SpooledUpload(path, digest.hexdigest(), size, head)

    async def keep(self, upload: SpooledUpload) -> Path:
        """Moves a spooled upload to its content name (replacing an identical file is harmless
        and restores one that a concurrent delete just removed)."""
        target = self.content_path(upload.sha256)
        await asyncio.to_thread(_move_into_place, upload.path, target)
        return target

    async def discard(self, upload: SpooledUpload) -> None:
        await asyncio.to_thread(upload.path.unlink, True)

    async def write_thumbnail(self, sha256: str, name: str, data: bytes) -> Path:
        target = self.thumbnail_dir(sha256) / name
        await asyncio.to_thread(_write_atomically, self._tmp, target, data)
        return target

    async def remove(self, sha256: str) -> None:
        """Deletes the content and every thumbnail made from it."""
        await asyncio.to_thread(self._remove, sha256)

    def _remove(self, sha256: str) -> None:
        self.content_path(sha256).unlink(missing_ok=True)
        shutil.rmtree(self.thumbnail_dir(sha256), ignore_errors=True)


def _write_and_hash(out: BinaryIO, digest: Any, chunks: list[bytes], flush: bool = False) -> None:
    for chunk in chunks:
        digest.update(chunk)
        out.write(chunk)
    if flush:
        out.flush()
        os.fsync(out.fileno())


def _move_into_place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


def _write_atomically(tmp_dir: Path, target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(name, target)
