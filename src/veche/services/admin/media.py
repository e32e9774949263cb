"""Media as a server admin manages it (Synapse's media admin API): what a room's events
refer to, quarantine (the item is kept but never served), a user's uploads, deletion
(through `MediaRepository.delete`, as `veche media delete` does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from veche.errors import not_found
from veche.protocol.media import is_valid_media_id
from veche.services.media.repository import MediaRepository
from veche.storage.admin_media import MediaAdminStore


USAGE_ORDER = ("user_id", "displayname", "media_length", "media_count")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    start: int = 0
    limit: int = 100
    order_by: str = "user_id"
    reverse: bool = False
    from_ts: int = 0
    until_ts: int | None = None
    search_term: str | None = None


class MediaAdmin:
    def __init__(self, server_name: str, store: MediaAdminStore, repository: MediaRepository) -> None:
        self._server_name = server_name
        self._store = store
        self._repository = repository

    async def room_media(self, room_id: str) -> dict[str, list[str]]:
        """The mxc URIs the room's events name in `url` or `info.thumbnail_url` (as Synapse
        looks for them), split into this server's and other servers'."""
        local: list[str] = []
        remote: list[str] = []
        for server_name, media_id in await self._room_items(room_id):
            uri = f"mxc://{server_name}/{media_id}"
            (local if server_name == self._server_name else remote).append(uri)
        return {"local": local, "remote": remote}

    async def quarantine(self, admin: str | None, server_name: str, media_id: str) -> None:
        """Quarantines (`admin` given) or releases (None) one item; unknown items are ignored,
        as Synapse does."""
        await self._store.set_quarantined([(server_name, media_id)], admin)

    async def quarantine_room(self, admin: str, room_id: str) -> int:
        return await self._store.set_quarantined(await self._room_items(room_id), admin)

    async def user_media(
        self, user_id: str, *, start: int, limit: int, order_by: str, reverse: bool
    ) -> tuple[list[dict[str, Any]], int]:
        return await self._store.user_media(user_id, start=start, limit=limit, order_by=order_by, reverse=reverse)

    async def usage(self, query: UsageQuery) -> tuple[list[dict[str, Any]], int]:
        """How much media each local user uploaded (Synapse's users' media statistics)."""
        rows = [
            {"user_id": user_id, "displayname": _displayname(profile), "media_count": count, "media_length": size}
            for user_id, count, size, profile in await self._store.usage_by_user(query.from_ts, query.until_ts)
        ]
        if query.search_term:
            needle = query.search_term.lower()
            rows = [r for r in rows if needle in r["user_id"].lower() or needle in (r["displayname"] or "").lower()]
        key = query.order_by
        rows.sort(key=lambda r: (r[key] is None, "" if r[key] is None else r[key], r["user_id"]), reverse=query.reverse)
        return rows[query.start : query.start + query.limit], len(rows)

    async def delete(self, server_name: str, media_id: str) -> None:
        if not await self._repository.delete(server_name, media_id):
            raise not_found("Unknown media")

    async def delete_user_media(self, user_id: str) -> list[str]:
        deleted = []
        for media_id in await self._store.user_media_ids(user_id):
            if await self._repository.delete(self._server_name, media_id):
                deleted.append(media_id)
        return deleted

    async def _room_items(self, room_id: str) -> list[tuple[str, str]]:
        found: dict[tuple[str, str], None] = {}
        async for content in self._store.room_event_contents(room_id):
            info = content.get("info")
            thumbnail = info.get("thumbnail_url") if isinstance(info, dict) else None
            for uri in (content.get("url"), thumbnail):
                item = _parse_mxc(uri)
                if item is not None:
                    found[item] = None
        return list(found)


def _displayname(profile: dict[str, Any]) -> str | None:
    name = profile.get("displayname")
    return name if isinstance(name, str) else None


def _parse_mxc(uri: Any) -> tuple[str, str] | None:
    if not isinstance(uri, str) or not uri.startswith("mxc://"):
        return None
    server_name, _, media_id = uri.removeprefix("mxc://").partition("/")
    if not server_name or not is_valid_media_id(media_id):
        return None
    return server_name, media_id
