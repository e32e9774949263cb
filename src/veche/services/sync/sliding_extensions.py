"""Sliding sync extensions over the same sources as /v3/sync: to_device (MSC3885), e2ee
(MSC3884), account_data (MSC3959), receipts (MSC3960) and typing (MSC4508).

Room-scoped extensions look at the rooms in scope (MSC4508): a room entering the response
with `initial` gets its full data (all its account data, its typing state, the receipts of
its timeline's events and the user's own), the others what moved since the connection's
previous position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from veche.errors import invalid_param
from veche.protocol.sliding_sync import ExtensionConfig
from veche.services.e2ee import E2eeServices
from veche.services.e2ee.to_device import SYNC_LIMIT
from veche.services.streams import StreamToken
from veche.services.user_data import UserDataServices
from veche.storage.accounts import TokenInfo


@dataclass(frozen=True, slots=True)
class ExtensionInput:
    requester: TokenInfo
    configs: Mapping[str, ExtensionConfig]
    since: StreamToken | None
    now: StreamToken
    list_windows: Mapping[str, list[str]]
    subscriptions: list[str]
    joined: frozenset[str]
    # The response's rooms, and those of them sent with `initial`.
    rooms: Mapping[str, dict[str, Any]]
    fresh: frozenset[str]

    def enabled(self, name: str) -> ExtensionConfig | None:
        config = self.configs.get(name)
        return config if config is not None and config.enabled else None

    def scope(self, config: ExtensionConfig) -> set[str]:
        return config.in_scope(self.list_windows, self.subscriptions)


class SlidingExtensions:
    def __init__(self, user_data: UserDataServices, e2ee: E2eeServices) -> None:
        self._user_data = user_data
        self._e2ee = e2ee

    async def build(self, given: ExtensionInput) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if (config := given.enabled("to_device")) is not None:
            result["to_device"] = await self._to_device(given, config)
        if given.enabled("e2ee") is not None:
            result["e2ee"] = await self._e2ee_fields(given)
        if (config := given.enabled("account_data")) is not None:
            result["account_data"] = await self._account_data(given, config)
        if (config := given.enabled("receipts")) is not None:
            result["receipts"] = await self._receipts(given, config)
        if (config := given.enabled("typing")) is not None:
            result["typing"] = self._typing(given, config)
        return result

    async def _to_device(self, given: ExtensionInput, config: ExtensionConfig) -> dict[str, Any]:
        since: int | None = None
        if config.since is not None:
            # isdigit() alone passes "²", which int() refuses; SQL binds 64 bits at most.
            if not (config.since.isascii() and config.since.isdigit()) or int(config.since) >= 2**63:
                raise invalid_param("extensions.to_device.since is not a token this server issued")
            since = int(config.since)
        requester = given.requester
        # Presenting `since` acknowledges (deletes) what came before it, as /v3/sync does.
        page = await self._e2ee.to_device.inbox(
            requester.user_id, requester.device_id, since, given.now.to_device, config.limit or SYNC_LIMIT
        )
        # When more wait, the next request must start after what was sent.
        next_batch = page.last_position if page.limited and page.last_position is not None else given.now.to_device
        body: dict[str, Any] = {"next_batch": str(next_batch)}
        if page.messages:
            body["events"] = page.messages
        return body

    async def _e2ee_fields(self, given: ExtensionInput) -> dict[str, Any]:
        user_id, device_id = given.requester.user_id, given.requester.device_id
        keys = self._e2ee.keys
        body: dict[str, Any] = {
            "device_one_time_keys_count": await keys.one_time_key_counts(user_id, device_id),
            "device_unused_fallback_key_types": await keys.unused_fallback_key_types(user_id, device_id),
        }
        # As in /v3/sync, only an incremental response carries device_lists.
        if given.since is not None:
            changed, left = await self._e2ee.device_lists.changes(user_id, given.since, given.now)
            if changed or left:
                body["device_lists"] = {"changed": changed, "left": left}
        return body

    async def _account_data(self, given: ExtensionInput, config: ExtensionConfig) -> dict[str, Any]:
        account_data = self._user_data.account_data
        user_id = given.requester.user_id
        since = given.since.account_data if given.since is not None else 0
        now = given.now.account_data
        body: dict[str, Any] = {}
        global_data = await account_data.get_global_changes(user_id, since, now)
        if global_data:
            body["global"] = [{"type": t, "content": c} for t, c in global_data.items()]
        scope = given.scope(config)
        fresh = scope & given.fresh
        changes = await account_data.get_room_changes(user_id, since, now) if scope - fresh else {}
        if fresh:
            changes = {**changes, **(await account_data.get_room_changes(user_id, 0, now))}
        rooms = {
            room_id: [{"type": t, "content": c} for t, c in data.items()]
            for room_id, data in changes.items()
            if room_id in scope and data
        }
        if rooms:
            body["rooms"] = rooms
        return body

    async def _receipts(self, given: ExtensionInput, config: ExtensionConfig) -> dict[str, Any]:
        receipts = self._user_data.receipts
        user_id = given.requester.user_id
        scope = given.scope(config) & given.joined
        fresh = scope & given.fresh
        rooms: dict[str, Any] = {}
        if given.since is not None and scope - fresh:
            rooms.update(
                await receipts.receipts_for_rooms(user_id, scope - fresh, given.since.receipts, given.now.receipts)
            )
        if fresh:
            # MSC3960: a room's first receipts are those of its timeline's events, and the user's own.
            for room_id, edu in (await receipts.receipts_for_rooms(user_id, fresh, 0, given.now.receipts)).items():
                shown = {e.get("event_id") for e in given.rooms.get(room_id, {}).get("timeline", ())}
                content = _receipts_for(edu["content"], shown, user_id)
                if content:
                    rooms[room_id] = {"type": "m.receipt", "content": content}
        return {"rooms": rooms} if rooms else {}

    def _typing(self, given: ExtensionInput, config: ExtensionConfig) -> dict[str, Any]:
        typing = self._user_data.typing
        scope = given.scope(config) & given.joined
        fresh = scope & given.fresh
        rooms = typing.typing_for_rooms(sorted(fresh), 0)
        if given.since is not None:
            rooms.update(typing.typing_for_rooms(sorted(scope - fresh), given.since.typing))
        return {"rooms": rooms} if rooms else {}


def _receipts_for(content: dict[str, Any], event_ids: set[Any], user_id: str) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for event_id, by_type in content.items():
        for receipt_type, by_user in by_type.items():
            users = by_user if event_id in event_ids else {u: d for u, d in by_user.items() if u == user_id}
            if users:
                kept.setdefault(event_id, {})[receipt_type] = users
    return kept


def extensions_have_news(extensions: Mapping[str, Any]) -> bool:
    """Whether the extensions carry anything a long-polling request should return for (the
    key counts every e2ee response carries do not count)."""
    return bool(
        extensions.get("to_device", {}).get("events")
        or extensions.get("e2ee", {}).get("device_lists")
        or any(extensions.get(name) for name in ("account_data", "receipts", "typing"))
    )
