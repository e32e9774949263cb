"""The parts of /sync that come from per-user and ephemeral data: account data (global and
per room), presence, typing and receipts."""

from __future__ import annotations

from typing import Any

from veche.services.streams import Stream
from veche.services.sync.rooms import SyncRequest, empty_joined_room
from veche.services.user_data import UserDataServices


class UserDataSections:
    def __init__(self, services: UserDataServices) -> None:
        self._services = services

    async def __call__(self, request: SyncRequest, response: dict[str, Any]) -> None:
        since = request.since
        now = request.now
        user_id = request.user_id
        sync_filter = request.filter
        services = self._services

        quiet = request.quiet
        account_data_moved = Stream.ACCOUNT_DATA not in quiet
        if account_data_moved:
            global_data = await services.account_data.get_global_changes(
                user_id, since.account_data if since else 0, now.account_data
            )
            response["account_data"]["events"] = [
                {"type": data_type, "content": content}
                for data_type, content in global_data.items()
                if sync_filter.account_data.matches_type_and_sender(data_type, None)
            ]
        if Stream.PRESENCE not in quiet:
            presence = await services.presence.presence_for_user(
                user_id, since.presence if since else 0, now.presence
            )
            response["presence"]["events"] = [e for e in presence if sync_filter.presence.matches(e)]

        rooms = response["rooms"]
        room_filter = sync_filter.room
        typing_moved = Stream.TYPING not in quiet
        receipts_moved = Stream.RECEIPTS not in quiet
        if not (account_data_moved or typing_moved or receipts_moved):
            return
        joined_ids = [r for r in request.joined_room_ids if room_filter.matches_room(r)]
        room_data: dict[str, dict[str, Any]] = {}
        if account_data_moved:
            room_data = await services.account_data.get_room_changes(
                user_id, since.account_data if since else 0, now.account_data
            )
        typing: dict[str, dict[str, Any]] = {}
        if typing_moved:
            typing = services.typing.typing_for_rooms(joined_ids, since.typing if since else 0)
        receipts: dict[str, dict[str, Any]] = {}
        if receipts_moved:
            receipts = await services.receipts.receipts_for_rooms(
                user_id, joined_ids, since.receipts if since else 0, now.receipts
            )
        for room_id in joined_ids:
            ephemeral = [
                e for e in (typing.get(room_id), receipts.get(room_id))
                if e is not None and room_filter.ephemeral.matches(e)
            ]
            account_data = _room_account_data(room_data.get(room_id, {}), room_filter.account_data)
            if not ephemeral and not account_data:
                continue
            room = rooms["join"].setdefault(room_id, empty_joined_room(now))
            room["ephemeral"]["events"] = ephemeral
            room["account_data"]["events"] = account_data
        for room_id, room in rooms["leave"].items():
            room["account_data"]["events"] = _room_account_data(room_data.get(room_id, {}), room_filter.account_data)


def _room_account_data(data: dict[str, Any], room_filter: Any) -> list[dict[str, Any]]:
    return [
        {"type": data_type, "content": content}
        for data_type, content in data.items()
        if room_filter.matches_type_and_sender(data_type, None)
    ]
