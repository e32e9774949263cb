"""The media repository: stores uploads, serves them and their thumbnails, deletes them.

Uploads are streamed to disk and named by content hash (`files.ContentFiles`); their
metadata is a row in `MediaStore`. Thumbnails of images are rendered off the event loop
(`thumbnails.Thumbnailer`): the sizes the spec recommends right after an upload, others
when first asked for; all are kept on disk next to the content they were made from.

Other servers' media is fetched once through `RemoteMediaSource` (federation) and then
cached like an upload, under its origin's name; its thumbnails are made here.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from veche.errors import MatrixError, forbidden, not_found
from veche.protocol.media import (
    DEFAULT_THUMBNAIL_SIZES,
    ImageInfo,
    ThumbnailSize,
    effective_request,
    is_valid_media_id,
    mxc_uri,
    sniff_image_type,
    stored_content_type,
    thumbnail_dimensions,
)
from veche.services.keyed_lock import KeyedLock
from veche.services.media.files import ContentFiles, SpooledUpload, too_large
from veche.services.media.thumbnails import CannotThumbnail, Thumbnailer
from veche.storage.media import MediaRecord, MediaStore, StoredContent

logger = logging.getLogger(__name__)

# content-repo.yaml (/create): the recommended lifetime of an unused media ID.
PENDING_LIFETIME_MS = 24 * 3600 * 1000
# content-repo.yaml (/create): servers should bound a user's pending uploads.
MAX_PENDING_PER_USER = 10
# content-repo.yaml (`timeout_ms`): the default wait for a pending upload, and our cap on it.
DEFAULT_WAIT_MS = 20_000
MAX_WAIT_MS = 60_000
# How often a waiting download re-reads the row (another process may complete the upload).
_WAIT_POLL_SECONDS = 1.0
# Access times are kept to this resolution, so downloads do not each write to the database.
ACCESS_RESOLUTION_MS = 3600 * 1000
MAX_FILENAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file to send: its path, the Content-Type, and the name to offer (if any)."""

    path: Path
    content_type: str
    filename: str | None


@dataclass(frozen=True, slots=True)
class RemoteContent:
    """Another server's media as it arrives: its declared type and name, and the bytes."""

    content_type: str | None
    filename: str | None
    chunks: AsyncIterable[bytes]


class RemoteMediaSource(Protocol):
    def download(
        self, server_name: str, media_id: str, timeout_ms: int | None
    ) -> AbstractAsyncContextManager[RemoteContent]:
        """The media from its origin server; MatrixError if it cannot be had."""
        ...


def now_ms() -> int:
    return int(time.time() * 1000)


class MediaRepository:
    def __init__(
        self,
        *,
        server_name: str,
        store: MediaStore,
        files: ContentFiles,
        thumbnailer: Thumbnailer,
        max_upload_size: int,
        freeze_legacy: bool,
        remote: RemoteMediaSource | None = None,
    ) -> None:
        self.server_name = server_name
        self._remote = remote
        self._remote_locks = KeyedLock()
        self.store = store
        self.files = files
        self.max_upload_size = max_upload_size
        self._thumbnailer = thumbnailer
        self._freeze_legacy = freeze_legacy
        self._frozen_ts: int | None = None
        # Held while content files are created or removed for a hash, so a delete never
        # removes a file an upload of the same bytes is about to reference.
        self._content_locks = KeyedLock()
        self._thumbnail_locks = KeyedLock()
        self._background: set[asyncio.Task[None]] = set()
        self._uploaded = _UploadSignals()

    async def start(self) -> None:
        await asyncio.to_thread(self.files.prepare)
        if self._freeze_legacy:
            self._frozen_ts = await self.store.freeze_legacy_endpoints(now_ms())

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._thumbnailer.close()

    # Uploads

    async def upload(
        self,
        user_id: str,
        body: AsyncIterable[bytes],
        *,
        content_length: int | None,
        content_type: str | None,
        filename: str | None,
    ) -> str:
        """Stores an upload under a new media ID and returns its mxc URI."""
        content_uri, _ = await self.upload_described(
            user_id, body, content_length=content_length, content_type=content_type, filename=filename
        )
        return content_uri

    async def upload_described(
        self,
        user_id: str,
        body: AsyncIterable[bytes],
        *,
        content_length: int | None,
        content_type: str | None,
        filename: str | None,
    ) -> tuple[str, StoredContent]:
        """`upload`, also returning what was stored (size, type, image dimensions)."""
        _check_filename(filename)
        self._check_length(content_length)
        media_id = secrets.token_urlsafe(18)
        spooled = await self.files.spool(body, self.max_upload_size)

        async def record(content: StoredContent) -> bool:
            await self.store.add_uploaded(self.server_name, media_id, user_id, content, now_ms())
            return True

        content = await self._keep(spooled, content_type, filename, record)
        self._pregenerate_thumbnails(content)
        return mxc_uri(self.server_name, media_id), content

    async def create_pending(self, user_id: str) -> tuple[str, int]:
        """A new media ID to upload to later: (mxc URI, expiry in ms since the epoch)."""
        now = now_ms()
        if await self.store.count_pending(user_id, now) >= MAX_PENDING_PER_USER:
            raise MatrixError(
                429, "M_LIMIT_EXCEEDED", "Too many pending uploads", retry_after_ms=60_000
            )
        media_id = secrets.token_urlsafe(18)
        expires_ts = now + PENDING_LIFETIME_MS
        await self.store.add_pending(self.server_name, media_id, user_id, now, expires_ts)
        return mxc_uri(self.server_name, media_id), expires_ts

    async def upload_pending(
        self,
        user_id: str,
        server_name: str,
        media_id: str,
        body: AsyncIterable[bytes],
        *,
        content_length: int | None,
        content_type: str | None,
        filename: str | None,
    ) -> None:
        """Fills a media ID made by `create_pending` (content-repo.yaml, PUT /upload)."""
        _check_filename(filename)
        record = await self._pending_target(user_id, server_name, media_id)
        self._check_length(content_length)
        spooled = await self.files.spool(body, self.max_upload_size)

        async def complete(content: StoredContent) -> bool:
            return await self.store.complete_pending(record.origin, media_id, content, now_ms())

        content = await self._keep(spooled, content_type, filename, complete)
        self._uploaded.signal((record.origin, media_id))
        self._pregenerate_thumbnails(content)

    async def _pending_target(self, user_id: str, server_name: str, media_id: str) -> MediaRecord:
        record = None
        if server_name == self.server_name and is_valid_media_id(media_id):
            record = await self.store.get(server_name, media_id)
        if record is None or _expired(record, now_ms()):
            raise not_found("Unknown media ID")
        if record.user_id != user_id:
            raise forbidden("This media ID was created by another user")
        if not record.is_pending:
            raise _cannot_overwrite()
        return record

    def _check_length(self, content_length: int | None) -> None:
        if content_length is not None and content_length > self.max_upload_size:
            raise too_large(self.max_upload_size)

    async def _keep(
        self,
        spooled: SpooledUpload,
        content_type: str | None,
        filename: str | None,
        record: Callable[[StoredContent], Awaitable[bool]],
    ) -> StoredContent:
        """Names the spooled file by its hash and records it with `record`, which returns
        False when a concurrent upload to the same ID won (409). Whatever fails, no
        temporary file and no file without a row is left behind."""
        kept = False
        try:
            content = await self._describe(spooled, content_type, filename)
            async with self._content_locks.hold(content.sha256):
                await self.files.keep(spooled)
                kept = True
                if await record(content):
                    return content
                raise _cannot_overwrite()
        except BaseException:
            if kept:
                await self._remove_if_unused(spooled.sha256)
            else:
                await self.files.discard(spooled)
            raise

    async def _remove_if_unused(self, sha256: str) -> None:
        async with self._content_locks.hold(sha256):
            if not await self.store.is_content_used(sha256):
                await self.files.remove(sha256)

    async def _describe(
        self, spooled: SpooledUpload, content_type: str | None, filename: str | None
    ) -> StoredContent:
        image = None
        if sniff_image_type(spooled.head) is not None:
            image = await self._thumbnailer.probe(spooled.path)
        return StoredContent(
            sha256=spooled.sha256,
            size=spooled.size,
            content_type=stored_content_type(content_type, spooled.head),
            upload_name=filename or None,
            image=image,
        )

    # Downloads

    async def download(
        self,
        server_name: str,
        media_id: str,
        *,
        timeout_ms: int | None = None,
        legacy: bool = False,
        allow_remote: bool = True,
    ) -> MediaFile:
        record = await self._available(server_name, media_id, timeout_ms, legacy, allow_remote)
        assert record.sha256 is not None
        return MediaFile(
            self.files.content_path(record.sha256),
            record.content_type or "application/octet-stream",
            record.upload_name,
        )

    async def thumbnail(
        self,
        server_name: str,
        media_id: str,
        request: ThumbnailSize,
        *,
        animated: bool = False,
        timeout_ms: int | None = None,
        legacy: bool = False,
        allow_remote: bool = True,
    ) -> MediaFile:
        """The thumbnail for `request`, or the image itself when it is no larger
        (content_repo.md, "Thumbnails"). 400 if the content is no image we can thumbnail,
        413 if it is too large to."""
        record = await self._available(server_name, media_id, timeout_ms, legacy, allow_remote)
        image = record.image
        assert record.sha256 is not None
        if image is None:
            raise MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content")
        if image.too_large_to_thumbnail():
            raise MatrixError(413, "M_TOO_LARGE", "Content is too large to thumbnail")
        want_animation = animated and image.animated
        dimensions = thumbnail_dimensions(image.width, image.height, effective_request(request.width, request.height, request.method))
        if dimensions is None:
            if want_animation or not image.animated:
                path = self.files.content_path(record.sha256)
                return MediaFile(path, image.content_type, _thumbnail_name(image.content_type))
            # A still is required of an animation no larger than asked: a still at full size.
            dimensions = (image.width, image.height)
        width, height = dimensions
        return await self._ensure_thumbnail(record.sha256, image, width, height, request.method, want_animation)

    async def _available(
        self, server_name: str, media_id: str, timeout_ms: int | None, legacy: bool, allow_remote: bool = True
    ) -> MediaRecord:
        """The uploaded item, waiting up to `timeout_ms` for a pending one (504 after)."""
        if not is_valid_media_id(media_id):
            raise not_found("Unknown media")
        record = await self.store.get(server_name, media_id)
        if record is None and server_name != self.server_name:
            # content_repo.md: remote media cached after the freeze counts as new, so the
            # frozen endpoints never fetch it; allow_remote=false forbids fetching (loops).
            if self._remote is None or not allow_remote or (legacy and self._frozen_ts is not None):
                raise not_found("Remote media is not available on this server")
            record = await self._fetch_remote(self._remote, server_name, media_id, timeout_ms)
        if record is not None and legacy and self._frozen_ts is not None:
            # content_repo.md: media created during or after the freeze is only served
            # through the authenticated endpoints.
            if record.created_ts >= self._frozen_ts:
                raise not_found("Unknown media")
        wait_ms = DEFAULT_WAIT_MS if timeout_ms is None else max(0, min(timeout_ms, MAX_WAIT_MS))
        deadline = time.monotonic() + wait_ms / 1000
        while True:
            if record is None or _expired(record, now_ms()):
                raise not_found("Unknown media")
            if not record.is_pending:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded")
            await self._uploaded.wait((server_name, media_id), min(remaining, _WAIT_POLL_SECONDS))
            record = await self.store.get(server_name, media_id)
        if record.quarantined_by is not None:
            raise not_found("Unknown media")
        now = now_ms()
        if now - record.last_access_ts >= ACCESS_RESOLUTION_MS:
            await self.store.touch(record.origin, record.media_id, now)
        return record

    async def _fetch_remote(
        self, remote: RemoteMediaSource, server_name: str, media_id: str, timeout_ms: int | None
    ) -> MediaRecord:
        """Downloads another server's media into the cache, once however many ask at a time."""
        async with self._remote_locks.hold((server_name, media_id)):
            record = await self.store.get(server_name, media_id)
            if record is not None:
                return record
            async with remote.download(server_name, media_id, timeout_ms) as content:
                try:
                    spooled = await self.files.spool(content.chunks, self.max_upload_size)
                except MatrixError as e:
                    if e.errcode == "M_TOO_LARGE":
                        raise MatrixError(502, "M_TOO_LARGE", "Remote content is too large") from None
                    raise

            async def add(stored: StoredContent) -> bool:
                await self.store.add_uploaded(server_name, media_id, None, stored, now_ms())
                return True

            await self._keep(spooled, content.content_type, _safe_filename(content.filename), add)
            record = await self.store.get(server_name, media_id)
            if record is None:
                raise not_found("Unknown media")
            return record

    # Thumbnails

    async def _ensure_thumbnail(
        self, sha256: str, image: ImageInfo, width: int, height: int, method: str, animated: bool
    ) -> MediaFile:
        name = f"{width}x{height}-{method}" + ("-animated" if animated else "")
        path = self.files.thumbnail_dir(sha256) / name
        async with self._thumbnail_locks.hold((sha256, name)):
            content_type = await asyncio.to_thread(_cached_type, path)
            if content_type is None:
                try:
                    thumbnail = await self._thumbnailer.render(
                        self.files.content_path(sha256), width, height, method, animated
                    )
                except CannotThumbnail as e:
                    logger.info("Cannot thumbnail %s: %s", sha256, e)
                    raise MatrixError(
                        400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content"
                    ) from None
                await self.files.write_thumbnail(sha256, name, thumbnail.data)
                content_type = thumbnail.content_type
        return MediaFile(path, content_type, _thumbnail_name(content_type))

    def _pregenerate_thumbnails(self, content: StoredContent) -> None:
        image = content.image
        if image is None or image.too_large_to_thumbnail():
            return
        task = asyncio.get_running_loop().create_task(self._pregenerate(content.sha256, image))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _pregenerate(self, sha256: str, image: ImageInfo) -> None:
        for size in DEFAULT_THUMBNAIL_SIZES:
            dimensions = thumbnail_dimensions(image.width, image.height, size)
            if dimensions is None:
                continue
            try:
                await self._ensure_thumbnail(sha256, image, *dimensions, size.method, False)
            except MatrixError:
                return  # the image does not decode; requests will say so
            except OSError:
                logger.warning("Could not pre-generate thumbnails of %s", sha256, exc_info=True)
                return

    async def wait_for_background_work(self) -> None:
        """Waits until thumbnails being pre-generated are done (tests and shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # Deletion

    async def delete(self, server_name: str, media_id: str) -> bool:
        """Deletes one item, and its file and thumbnails when no other item shares them."""
        existed, orphaned = await self.store.delete(server_name, media_id)
        if orphaned is not None:
            await self._remove_if_unused(orphaned)
        return existed


class _UploadSignals:
    """Wakes downloads waiting for a pending upload of this process to complete."""

    def __init__(self) -> None:
        self._events: dict[Hashable, tuple[asyncio.Event, int]] = {}

    async def wait(self, key: Hashable, timeout: float) -> None:
        event, waiters = self._events.get(key, (asyncio.Event(), 0))
        self._events[key] = (event, waiters + 1)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            event, waiters = self._events[key]
            if waiters == 1:
                del self._events[key]
            else:
                self._events[key] = (event, waiters - 1)

    def signal(self, key: Hashable) -> None:
        entry = self._events.get(key)
        if entry is not None:
            entry[0].set()


def _expired(record: MediaRecord, now: int) -> bool:
    return record.is_pending and record.unused_expires_ts is not None and record.unused_expires_ts <= now


def _cannot_overwrite() -> MatrixError:
    return MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded")


def _check_filename(filename: str | None) -> None:
    if filename is not None and len(filename) > MAX_FILENAME_LENGTH:
        raise MatrixError(
            400, "M_INVALID_PARAM", f"filename is longer than {MAX_FILENAME_LENGTH} characters"
        )


def _safe_filename(filename: str | None) -> str | None:
    """A remote file name, if it is one an upload could have had."""
    if not filename or len(filename) > MAX_FILENAME_LENGTH or "\x00" in filename:
        return None
    return filename


def _thumbnail_name(content_type: str) -> str:
    return "thumbnail." + content_type.split("/", 1)[1]


def _cached_type(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return sniff_image_type(f.read(16))
    except FileNotFoundError:
        return None
