"""Account data, room tags and the ignored-user list (modules account_data.md, tags.md,
ignore_users.md).

For /sync:
    `current_position()`                                   the account-data stream's position
    `get_global_changes(user_id, since_pos, to_pos)`       → {type: content}
    `get_room_changes(user_id, since_pos, to_pos)`         → {room_id: {type: content}}
    `get_ignored_users(user_id)`                           → frozenset of ignored user IDs
    `invites_blocked(user_id)`                             → whether invites to them are refused
    `invites_unblocked_at(user_id)`                        → where they last lifted that, if known
`since_pos` 0 means everything (an initial sync). Tags are the room account data `m.tag`
and the fully read marker is `m.fully_read`, so both arrive through `get_room_changes`.
"""

from __future__ import annotations

from typing import Any

from veche.errors import MatrixError, bad_json, invalid_param
from veche.protocol.identifiers import is_valid_user_id
from veche.protocol.invite_permission import INVITE_PERMISSION_CONFIG_TYPE, blocks_invites
from veche.services.keyed_lock import KeyedLock
from veche.services.notifier import Notifier
from veche.services.streams import Stream
from veche.storage.account_data import AccountDataStore, Content

TAG_TYPE = "m.tag"
FULLY_READ_TYPE = "m.fully_read"
PUSH_RULES_TYPE = "m.push_rules"
IGNORED_USERS_TYPE = "m.ignored_user_list"
# modules/account_data.md "Server Behaviour": types only the server may set.
SERVER_MANAGED_TYPES = frozenset({FULLY_READ_TYPE, PUSH_RULES_TYPE})
# modules/tags.md: "The name of a tag MUST NOT exceed 255 bytes."
MAX_TAG_BYTES = 255


class AccountDataService:
    def __init__(self, store: AccountDataStore, notifier: Notifier) -> None:
        self._store = store
        self._notifier = notifier
        # Tag edits read, change and write back m.tag; one user's edits must not interleave.
        self._tag_locks = KeyedLock()
        self._ignored: dict[str, frozenset[str]] = {}
        self._blocks_invites: dict[str, bool] = {}
        # Where a user lifted their invite block, so /sync can serve the invites it held
        # back; in memory only: after a restart they return on the next initial sync.
        self._unblocked_at: dict[str, int] = {}
        notifier.advance(Stream.ACCOUNT_DATA, store.current_position)

    def current_position(self) -> int:
        return self._store.current_position

    async def set_account_data(
        self, user_id: str, room_id: str | None, data_type: str, content: Content
    ) -> None:
        """A client's write of global (`room_id` None) or room account data."""
        if data_type in SERVER_MANAGED_TYPES:
            # The spec pairs this 405 with M_BAD_JSON (data/api/client-server/account-data.yaml).
            raise MatrixError(405, "M_BAD_JSON", f"Cannot set {data_type} through this API")
        if data_type == IGNORED_USERS_TYPE and room_id is None:
            _check_ignored_user_list(content)
        await self.set_server_managed(user_id, room_id, data_type, content)

    async def set_server_managed(
        self, user_id: str, room_id: str | None, data_type: str, content: Content
    ) -> None:
        """A write by the server itself (read markers, push rules), bypassing the type check."""
        was_blocking = (
            await self.invites_blocked(user_id)
            if data_type == INVITE_PERMISSION_CONFIG_TYPE and room_id is None
            else False
        )
        position = await self._store.put(user_id, room_id, data_type, content)
        if data_type == IGNORED_USERS_TYPE and room_id is None:
            self._ignored.pop(user_id, None)
        if data_type == INVITE_PERMISSION_CONFIG_TYPE and room_id is None:
            self._blocks_invites[user_id] = blocks_invites(content)
            if was_blocking and not self._blocks_invites[user_id]:
                self._unblocked_at[user_id] = position
        self._notifier.notify(
            Stream.ACCOUNT_DATA, position, [user_id], visible_upto=self._store.current_position
        )

    async def get_account_data(self, user_id: str, room_id: str | None, data_type: str) -> Content | None:
        return await self._store.get(user_id, room_id, data_type)

    async def get_global_changes(
        self, user_id: str, since_pos: int, to_pos: int | None = None
    ) -> dict[str, Content]:
        to = self.current_position() if to_pos is None else to_pos
        return await self._store.get_global_changes(user_id, since_pos, to)

    async def get_room_changes(
        self, user_id: str, since_pos: int, to_pos: int | None = None
    ) -> dict[str, dict[str, Content]]:
        to = self.current_position() if to_pos is None else to_pos
        return await self._store.get_room_changes(user_id, since_pos, to)

    async def get_tags(self, user_id: str, room_id: str) -> dict[str, Any]:
        content = await self._store.get(user_id, room_id, TAG_TYPE)
        tags = content.get("tags") if content else None
        return tags if isinstance(tags, dict) else {}

    async def set_tag(self, user_id: str, room_id: str, tag: str, tag_content: Content) -> None:
        if len(tag.encode()) > MAX_TAG_BYTES:
            raise invalid_param(f"Tag names must not exceed {MAX_TAG_BYTES} bytes")
        order = tag_content.get("order")
        if "order" in tag_content and (
            isinstance(order, bool) or not isinstance(order, (int, float))
        ):
            raise bad_json("order must be a number")
        if order is not None and not 0 <= order <= 1:
            raise invalid_param("order must be between 0 and 1")
        async with self._tag_locks.hold((user_id, room_id)):
            tags = dict(await self.get_tags(user_id, room_id))
            tags[tag] = tag_content
            await self.set_server_managed(user_id, room_id, TAG_TYPE, {"tags": tags})

    async def remove_tag(self, user_id: str, room_id: str, tag: str) -> None:
        async with self._tag_locks.hold((user_id, room_id)):
            tags = dict(await self.get_tags(user_id, room_id))
            if tag not in tags:
                return
            del tags[tag]
            await self.set_server_managed(user_id, room_id, TAG_TYPE, {"tags": tags})

    async def get_ignored_users(self, user_id: str) -> frozenset[str]:
        """Users whose events /sync and /messages must drop for `user_id` (ignore_users.md)."""
        cached = self._ignored.get(user_id)
        if cached is not None:
            return cached
        content = await self._store.get(user_id, None, IGNORED_USERS_TYPE)
        ignored = content.get("ignored_users") if content else None
        result = frozenset(ignored) if isinstance(ignored, dict) else frozenset()
        self._ignored[user_id] = result
        return result

    async def invites_blocked(self, user_id: str) -> bool:
        """Whether `user_id` refuses every invite (modules/invite_permission.md)."""
        cached = self._blocks_invites.get(user_id)
        if cached is not None:
            return cached
        config = await self._store.get(user_id, None, INVITE_PERMISSION_CONFIG_TYPE)
        if config is None:
            # Not remembered: invites over federation may name any number of users.
            return False
        self._blocks_invites[user_id] = blocks_invites(config)
        return self._blocks_invites[user_id]

    def invites_unblocked_at(self, user_id: str) -> int | None:
        """The account-data position at which `user_id` last stopped blocking invites."""
        return self._unblocked_at.get(user_id)


def _check_ignored_user_list(content: Content) -> None:
    ignored = content.get("ignored_users")
    if not isinstance(ignored, dict):
        raise bad_json("ignored_users must be an object mapping user IDs to objects")
    for user_id, value in ignored.items():
        if not is_valid_user_id(user_id):
            raise bad_json(f"{user_id!r} in ignored_users is not a user ID")
        if not isinstance(value, dict):
            raise bad_json(f"ignored_users[{user_id!r}] must be an object")
