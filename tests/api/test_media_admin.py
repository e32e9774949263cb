"""Deleting media: Synapse's admin endpoint, the `veche media delete` command, and the
retention sweep (media_retention_days), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.api.conftest import SERVER_NAME
from tests.api.media_helpers import AUTHED, make_image, upload
from veche import cli

ADMIN = "/_synapse/admin/v1/media"
DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_MEDIA_RETENTION_DAYS": "30"}


def content_files(homeserver) -> list:
    return [p for p in (homeserver.config.data_dir / "media" / "content").rglob("*") if p.is_file()]


async def status_of(http, user, media_id) -> int:
    async with http.get(f"{AUTHED}/download/{SERVER_NAME}/{media_id}", headers=user.headers) as response:
        return response.status


async def test_admin_deletes_media_and_its_file(http, make_user, homeserver):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    media_id = await upload(http, alice, make_image("image/png", 900, 900), "image/png")
    await homeserver.media.repository.wait_for_background_work()

    async with http.delete(f"{ADMIN}/{SERVER_NAME}/{media_id}", headers=alice.headers) as response:
        assert response.status == 403
    async with http.delete(f"{ADMIN}/{SERVER_NAME}/{media_id}", headers=admin.headers) as response:
        assert response.status == 200
        assert await response.json() == {"deleted_media": [media_id], "total": 1}
    assert await status_of(http, alice, media_id) == 404
    assert content_files(homeserver) == []
    thumbnails = homeserver.config.data_dir / "media" / "thumbnails"
    assert [p for p in thumbnails.rglob("*") if p.is_file()] == []
    async with http.delete(f"{ADMIN}/{SERVER_NAME}/{media_id}", headers=admin.headers) as response:
        assert response.status == 404


async def test_shared_content_survives_until_its_last_item_goes(http, make_user, homeserver):
    admin = await make_user("root", admin=True)
    alice = await make_user("alice")
    first = await upload(http, alice, b"shared bytes")
    second = await upload(http, alice, b"shared bytes")
    async with http.delete(f"{ADMIN}/{SERVER_NAME}/{first}", headers=admin.headers) as response:
        assert response.status == 200
    assert await status_of(http, alice, second) == 200
    assert len(content_files(homeserver)) == 1
    async with http.delete(f"{ADMIN}/{SERVER_NAME}/{second}", headers=admin.headers) as response:
        assert response.status == 200
    assert content_files(homeserver) == []


async def test_retention_removes_media_unused_for_the_configured_days(http, make_user, homeserver):
    alice = await make_user("alice")
    stale = await upload(http, alice, b"old and forgotten")
    fresh = await upload(http, alice, b"recently used")
    now = int(time.time() * 1000)
    await homeserver.db.execute(
        "UPDATE media SET last_access_ts = ? WHERE media_id = ?", now - 31 * DAY_MS, stale
    )
    # Cached remote media (origin elsewhere) goes by the same rule.
    await homeserver.db.execute(
        "INSERT INTO media (origin, media_id, content_type, size, sha256, created_ts,"
        " last_access_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "remote.example", "cached", "text/plain", 1, "0" * 64, now - 40 * DAY_MS, now - 40 * DAY_MS,
    )
    assert await homeserver.media.janitor.sweep() == 2
    assert await status_of(http, alice, stale) == 404
    assert await status_of(http, alice, fresh) == 200
    assert await homeserver.media.repository.store.get("remote.example", "cached") is None


async def test_downloads_keep_media_alive(http, make_user, homeserver):
    alice = await make_user("alice")
    media_id = await upload(http, alice, b"popular")
    await homeserver.db.execute(
        "UPDATE media SET last_access_ts = ? WHERE media_id = ?", int(time.time() * 1000) - 31 * DAY_MS, media_id
    )
    assert await status_of(http, alice, media_id) == 200
    assert await homeserver.media.janitor.sweep() == 0
    assert await status_of(http, alice, media_id) == 200


async def test_veche_media_delete_command(http, make_user, homeserver, tmp_path, capsys):
    alice = await make_user("alice")
    media_id = await upload(http, alice, b"remove me via the CLI")
    config = tmp_path / "veche.yaml"
    config.write_text(
        json.dumps(
            {
                "server_name": SERVER_NAME,
                "data_dir": str(homeserver.config.data_dir),
                "database": homeserver.config.database,
            }
        )
    )
    uri = f"mxc://{SERVER_NAME}/{media_id}"
    assert await asyncio.to_thread(cli.main, ["media", "delete", uri, "--config", str(config)]) == 0
    assert f"Deleted {uri}" in capsys.readouterr().out
    assert await status_of(http, alice, media_id) == 404
    assert content_files(homeserver) == []
    assert await asyncio.to_thread(cli.main, ["media", "delete", uri, "--config", str(config)]) == 1
    assert "no such media" in capsys.readouterr().err
    assert await asyncio.to_thread(cli.main, ["media", "delete", "https://x/y", "--config", str(config)]) == 1
