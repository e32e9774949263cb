"""Periodic clean-up of the media repository: pending /create IDs that lapsed unused, stale
URL previews, and — when `media_retention_days` is set — media nobody fetched for that
long (remote media cached here and local uploads alike)."""

from __future__ import annotations

import asyncio
import logging

from veche.services.media.repository import MediaRepository, now_ms

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 3600.0
_DAY_MS = 24 * 3600 * 1000
# Deleted per query, so a large backlog is worked off without one huge transaction.
_BATCH = 500


class MediaJanitor:
    def __init__(self, repository: MediaRepository, retention_days: int | None) -> None:
        self._repository = repository
        self._retention_days = retention_days
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def sweep(self) -> int:
        """One clean-up pass; returns how many media items it deleted."""
        store = self._repository.store
        now = now_ms()
        await store.delete_expired_pending(now)
        await store.delete_expired_previews(now)
        if self._retention_days is None:
            return 0
        cutoff = now - self._retention_days * _DAY_MS
        deleted = 0
        while batch := await store.stale_media(cutoff, _BATCH):
            removed = [await self._repository.delete(origin, media_id) for origin, media_id in batch]
            deleted += sum(removed)
            if not any(removed):
                break  # deleted meanwhile by someone else; the next sweep sees the rest
        if deleted:
            logger.info("Retention removed %d media items unused for %d days", deleted, self._retention_days)
        return deleted

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("Media clean-up failed; retrying at the next sweep")
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
