"""The media components one HomeServer runs, built from the config."""

from __future__ import annotations

from veche.config import Config
from veche.services.media.files import ContentFiles
from veche.services.media.previews import UrlPreviewer
from veche.services.media.repository import MediaRepository, RemoteMediaSource
from veche.services.media.retention import MediaJanitor
from veche.services.media.thumbnails import Thumbnailer
from veche.storage.database import Database
from veche.storage.media import MediaStore


class MediaServices:
    def __init__(self, config: Config, db: Database, remote: RemoteMediaSource | None = None) -> None:
        self.repository = MediaRepository(
            server_name=config.server_name,
            store=MediaStore(db),
            files=ContentFiles(config.data_dir / "media"),
            thumbnailer=Thumbnailer(),
            max_upload_size=config.max_upload_size,
            freeze_legacy=config.freeze_unauthenticated_media,
            remote=remote,
        )
        # None when URL previews are off (the default).
        self.previews = (
            UrlPreviewer(self.repository, config.url_preview_allowed_ranges)
            if config.url_previews
            else None
        )
        self.janitor = MediaJanitor(self.repository, config.media_retention_days)

    async def start(self) -> None:
        await self.repository.start()
        self.janitor.start()

    async def stop(self) -> None:
        await self.janitor.stop()
        if self.previews is not None:
            await self.previews.close()
        await self.repository.close()
