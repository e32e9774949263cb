"""`veche media delete MXC_URI…`: delete media items (their file too, once no other item
shares it), for an operator without an admin client. The same as Synapse's
DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from veche.config import load_config
from veche.homeserver import open_configured_database
from veche.log import setup_logging
from veche.protocol.media import is_valid_media_id
from veche.services.media.files import ContentFiles
from veche.services.media.repository import MediaRepository
from veche.services.media.thumbnails import Thumbnailer
from veche.storage.media import MediaStore


def add_command(commands: Any, config_help: str) -> None:
    """Adds the subcommand to the `veche` parser's subparsers."""
    parser = commands.add_parser("media", help="manage the media repository")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    delete = actions.add_parser("delete", help="delete media items")
    delete.add_argument("uris", nargs="+", metavar="MXC_URI", help="e.g. mxc://example.org/abc123")
    delete.add_argument("--config", type=Path, help=config_help)
    delete.set_defaults(run=_delete)


def _parse_mxc(uri: str) -> tuple[str, str]:
    from veche.cli import CommandError

    server_name, _, media_id = uri.removeprefix("mxc://").partition("/")
    if not uri.startswith("mxc://") or not server_name or not is_valid_media_id(media_id):
        raise CommandError(f"not an mxc URI: {uri!r} (expected mxc://<server>/<media id>)")
    return server_name, media_id


def _delete(args: argparse.Namespace) -> None:
    from veche.cli import CommandError, _config_path, _run

    items = [_parse_mxc(uri) for uri in args.uris]
    config = load_config(_config_path(args))
    setup_logging("WARNING")
    missing: list[str] = []

    async def run() -> None:
        db = await open_configured_database(config)
        repository = MediaRepository(
            server_name=config.server_name,
            store=MediaStore(db),
            files=ContentFiles(config.data_dir / "media"),
            thumbnailer=Thumbnailer(workers=1),
            max_upload_size=config.max_upload_size,
            freeze_legacy=False,
        )
        try:
            for server_name, media_id in items:
                if await repository.delete(server_name, media_id):
                    print(f"Deleted mxc://{server_name}/{media_id}")
                else:
                    missing.append(f"mxc://{server_name}/{media_id}")
        finally:
            await repository.close()
            await db.close()

    _run(run())
    if missing:
        raise CommandError(f"no such media: {', '.join(missing)}")
