"""Pushers: where to send a user's push notifications (migrations/0080_push.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class Pusher:
    pusher_id: int
    user_id: str
    device_id: str | None
    kind: str
    app_id: str
    pushkey: str
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: dict[str, Any]
    pushkey_ts: int


_COLUMNS = (
    "pusher_id, user_id, device_id, kind, app_id, pushkey, app_display_name, device_display_name,"
    " profile_tag, lang, data, pushkey_ts"
)


def _pusher(row: tuple[Any, ...]) -> Pusher:
    return Pusher(*row[:10], orjson.loads(row[10]), row[11])


class PusherStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def for_user(self, user_id: str) -> list[Pusher]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM pushers WHERE user_id = ? ORDER BY pusher_id", user_id)
        return [_pusher(r) for r in rows]

    async def all(self) -> list[Pusher]:
        """Every pusher (they are few: one per user device that asked for pushes)."""
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM pushers ORDER BY pusher_id")
        return [_pusher(r) for r in rows]

    async def upsert(
        self,
        *,
        user_id: str,
        device_id: str | None,
        kind: str,
        app_id: str,
        pushkey: str,
        app_display_name: str,
        device_display_name: str,
        profile_tag: str | None,
        lang: str,
        data: dict[str, Any],
        pushkey_ts: int,
        append: bool,
    ) -> None:
        """Create or update the user's pusher for (app_id, pushkey).

        Without `append`, other users' pushers with the same app ID and pushkey go
        (pusher.yaml `append`)."""
        async with self._db.transaction() as txn:
            if not append:
                await txn.execute(
                    "DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id <> ?", app_id, pushkey, user_id
                )
            await txn.execute(
                "INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, app_display_name,"
                " device_display_name, profile_tag, lang, data, pushkey_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET device_id = excluded.device_id,"
                " kind = excluded.kind, app_display_name = excluded.app_display_name,"
                " device_display_name = excluded.device_display_name, profile_tag = excluded.profile_tag,"
                " lang = excluded.lang, data = excluded.data, pushkey_ts = excluded.pushkey_ts",
                user_id,
                device_id,
                kind,
                app_id,
                pushkey,
                app_display_name,
                device_display_name,
                profile_tag,
                lang,
                orjson.dumps(data).decode(),
                pushkey_ts,
            )

    async def delete(self, user_id: str, app_id: str, pushkey: str) -> int:
        return await self._db.execute(
            "DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND pushkey = ?", user_id, app_id, pushkey
        )

    async def delete_for_devices(self, user_id: str, device_ids: list[str]) -> int:
        """Remove the pushers set from these devices (the devices are gone)."""
        return await self._db.execute(
            "DELETE FROM pushers WHERE user_id = ? AND device_id = ANY(?)", user_id, device_ids
        )

    async def delete_pushkeys(self, app_id: str, pushkeys: list[str], url: str) -> int:
        """Remove pushers a gateway (at `url`) rejected (push_notifier.yaml `rejected`)."""
        if not pushkeys:
            return 0
        rows = await self._db.fetchall(
            "SELECT pusher_id, data FROM pushers WHERE app_id = ? AND pushkey = ANY(?)", app_id, pushkeys
        )
        doomed = [pid for pid, data in rows if orjson.loads(data).get("url") == url]
        if not doomed:
            return 0
        return await self._db.execute("DELETE FROM pushers WHERE pusher_id = ANY(?)", doomed)
