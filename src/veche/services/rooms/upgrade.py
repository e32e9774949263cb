"""POST /rooms/{roomId}/upgrade (spec: client-server-api/modules/room_upgrades.md, room_upgrades.yaml)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from veche.errors import MatrixError, forbidden, invalid_param, not_found
from veche.protocol.events import Event, StateKey
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.protocol.power_levels import get_required_event_level, get_user_power_level, room_creators
from veche.protocol.room_upgrade import (
    POWER_LEVELS,
    TOMBSTONE_BODY,
    TRANSFERABLE_STATE,
    normalised_power_levels,
    replacement_create_content,
    replacement_power_levels,
    restricted_old_power_levels,
    transferred_content,
)
from veche.protocol.room_versions import RoomVersion, UnsupportedRoomVersion, get_room_version
from veche.services.keyed_lock import KeyedLock
from veche.services.rooms.creation import ProfileLookup
from veche.services.rooms.sending import EventDraft, EventSender
from veche.storage.room_directory import AliasStore, DirectoryStore
from veche.storage.stores import EventStores

CANONICAL_ALIAS = "m.room.canonical_alias"


class RoomUpgrader:
    def __init__(
        self,
        *,
        sender: EventSender,
        stores: EventStores,
        aliases: AliasStore,
        directory: DirectoryStore,
        member_profile: ProfileLookup | None = None,
    ) -> None:
        self._sender = sender
        self._stores = stores
        self._aliases = aliases
        self._directory = directory
        self._member_profile = member_profile
        # One upgrade of a room at a time, so a double click makes one replacement.
        self._locks = KeyedLock()

    async def upgrade(
        self, user_id: str, room_id: str, new_version: str, additional_creators: Sequence[str] = ()
    ) -> str:
        """Replace the room by a new one of `new_version`; returns the replacement's room ID."""
        try:
            version = get_room_version(new_version)
        except UnsupportedRoomVersion:
            raise MatrixError(
                400, "M_UNSUPPORTED_ROOM_VERSION", f"This server does not support room version {new_version}"
            ) from None
        for creator in additional_creators:
            try:
                parse_user_id(creator)
            except InvalidIdentifier as e:
                raise invalid_param(f"additional_creators: {e}") from None
        if not version.privileged_creators:
            additional_creators = ()  # room_upgrades.yaml: ignored where unsupported
        if await self._stores.rooms.get_room_version(room_id) is None:
            raise not_found(f"Unknown room {room_id}")
        async with self._locks.hold(room_id):
            return await self._upgrade(user_id, room_id, version, additional_creators)

    async def _upgrade(
        self, user_id: str, old_room_id: str, version: RoomVersion, additional_creators: Sequence[str]
    ) -> str:
        state = await self._stores.events.get_current_state(old_room_id)
        create = state.get(("m.room.create", ""))
        if create is None:
            raise not_found(f"Unknown room {old_room_id}")
        power_levels = state.get((POWER_LEVELS, ""))
        member = state.get(("m.room.member", user_id))
        user_level = get_user_power_level(user_id, power_levels, create)
        # Step 1: the upgrader must be able to send the tombstone.
        if (
            member is None
            or member.membership != "join"
            or user_level < get_required_event_level("m.room.tombstone", True, power_levels)
        ):
            raise forbidden("You cannot upgrade this room")

        extremities = await self._stores.events.get_events(
            await self._stores.events.get_forward_extremities(old_room_id)
        )
        last = max(extremities.values(), key=lambda e: (e.depth, e.event_id), default=None)
        new_create = await self._sender.create_room(
            user_id,
            version,
            replacement_create_content(
                create.content,
                old_room_id,
                last.event_id if last else None,
                version,
                user_id,
                additional_creators,
            ),
        )
        new_room_id = new_create.room_id
        join = {"membership": "join", **await self._profile(user_id)}
        await self._send(new_room_id, user_id, "m.room.member", join, user_id)

        # (initial, final): the upgrader may need more power while copying than afterwards.
        levels: tuple[dict[str, Any], dict[str, Any]] | None = None
        if power_levels is not None:
            levels = replacement_power_levels(
                normalised_power_levels(power_levels.content, create.room_version),
                user_level,
                user_id,
                room_creators(create),
                version,
                room_creators(new_create),
            )
            await self._send(new_room_id, user_id, POWER_LEVELS, levels[0])
        for event_type in TRANSFERABLE_STATE:
            event = state.get((event_type, ""))
            if event is not None:
                content = transferred_content(event_type, event.content, old_room_id, new_room_id)
                await self._send(new_room_id, user_id, event_type, content)
        await self._copy_bans(state, new_room_id, user_id)
        if levels is not None and levels[1] != levels[0]:
            await self._send(new_room_id, user_id, POWER_LEVELS, levels[1])

        await self._move_aliases(state, old_room_id, new_room_id, user_id)
        await self._send(
            old_room_id, user_id, "m.room.tombstone", {"body": TOMBSTONE_BODY, "replacement_room": new_room_id}
        )
        await self._restrict_old_room(old_room_id, user_id, power_levels)
        if await self._directory.is_published(old_room_id):
            await self._directory.publish(new_room_id, self._sender.now_ms())
            await self._directory.unpublish(old_room_id)
        return new_room_id

    async def _copy_bans(self, state: dict[StateKey, Event], new_room_id: str, user_id: str) -> None:
        """Carry bans over, sent by the upgrader, so an upgrade is no way back in for the banned.

        (room_upgrades.md rules out transferring memberships because servers cannot act for
        other servers' users; a ban is the upgrader's own act, as Synapse also does.)"""
        for (event_type, target), event in state.items():
            if event_type == "m.room.member" and event.membership == "ban":
                content = {"membership": "ban"}
                if isinstance(event.content.get("reason"), str):
                    content["reason"] = event.content["reason"]
                try:
                    await self._send(new_room_id, user_id, "m.room.member", content, target)
                except MatrixError as e:
                    if e.errcode != "M_FORBIDDEN":
                        raise

    async def _move_aliases(
        self, state: dict[StateKey, Event], old_room_id: str, new_room_id: str, user_id: str
    ) -> None:
        """Step 4: local aliases follow the room, and so does the canonical alias event."""
        await self._aliases.move_room_aliases(old_room_id, new_room_id)
        canonical = state.get((CANONICAL_ALIAS, ""))
        if canonical is None or not canonical.content:
            return
        await self._send_if_allowed(new_room_id, user_id, CANONICAL_ALIAS, dict(canonical.content))
        await self._send_if_allowed(old_room_id, user_id, CANONICAL_ALIAS, {})

    async def _restrict_old_room(self, old_room_id: str, user_id: str, power_levels: Event | None) -> None:
        """Step 6, where the upgrader's power allows it."""
        if power_levels is None:
            return
        restricted = restricted_old_power_levels(power_levels.content)
        if restricted is not None:
            await self._send_if_allowed(old_room_id, user_id, POWER_LEVELS, restricted)

    async def _send(
        self, room_id: str, user_id: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> Event:
        return await self._sender.send(room_id, user_id, EventDraft(event_type, content, state_key))

    async def _send_if_allowed(self, room_id: str, user_id: str, event_type: str, content: dict[str, Any]) -> None:
        try:
            await self._send(room_id, user_id, event_type, content)
        except MatrixError as e:
            if e.errcode != "M_FORBIDDEN":
                raise

    async def _profile(self, user_id: str) -> dict[str, Any]:
        if self._member_profile is None:
            return {}
        profile = await self._member_profile(user_id)
        return {k: profile[k] for k in ("displayname", "avatar_url") if profile.get(k) is not None}
