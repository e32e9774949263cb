"""Rooms as a server admin sees them (Synapse's rooms admin API): listing with search and
order, details, members, state, blocking, and deleting a room from this server's point of
view (every local user made to leave, its local aliases and directory entry removed,
optionally blocked and replaced by a notice room), then by default purging what the
server stores of it (services/admin/room_purge.py).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from veche.errors import MatrixError, forbidden, invalid_param, not_found
from veche.protocol.events import Event, StateKey
from veche.services.admin.room_purge import RoomPurger
from veche.services.rooms.creation import RoomCreator
from veche.services.rooms.membership import RoomMembership
from veche.services.rooms.sending import EventDraft, EventSender
from veche.storage.accounts import AccountStore
from veche.storage.admin_rooms import RoomAdminStore, RoomCounts
from veche.storage.events import EventStore
from veche.storage.room_directory import AliasStore, DirectoryStore
from veche.storage.rooms import RoomStore

logger = logging.getLogger(__name__)

# The state a room's summary is made of.
SUMMARY_TYPES = (
    "m.room.create",
    "m.room.name",
    "m.room.canonical_alias",
    "m.room.join_rules",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.encryption",
    "m.room.avatar",
    "m.room.topic",
)
# Synapse's order_by values for the room list.
ORDER_FIELDS = frozenset(
    {
        "name",
        "canonical_alias",
        "joined_members",
        "joined_local_members",
        "version",
        "creator",
        "encryption",
        "federatable",
        "public",
        "join_rules",
        "guest_access",
        "history_visibility",
        "state_events",
        # Deprecated aliases Synapse still accepts, of joined_members and name.
        "size",
        "alphabetical",
    }
)
_ALIASES = {"size": "joined_members", "alphabetical": "name"}
# Synapse lists these largest first when going forwards.
LARGEST_FIRST = frozenset({"joined_members", "joined_local_members", "state_events", "version"})
KEPT_DELETIONS = 1_000
DEFAULT_NOTICE_ROOM_NAME = "Content Violation Notification"
DEFAULT_NOTICE_MESSAGE = (
    "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
)


@dataclass(frozen=True, slots=True)
class RoomQuery:
    start: int = 0
    limit: int = 100
    order_by: str = "name"
    reverse: bool = False
    search_term: str | None = None
    public_rooms: bool | None = None
    empty_rooms: bool | None = None


@dataclass(frozen=True, slots=True)
class RoomDeletion:
    """What a DELETE of a room asks for."""

    block: bool = False
    purge: bool = True
    # Purge even if some local users could not be made to leave.
    force_purge: bool = False
    new_room_user_id: str | None = None
    room_name: str = DEFAULT_NOTICE_ROOM_NAME
    message: str = DEFAULT_NOTICE_MESSAGE


@dataclass(slots=True)
class DeletionResult:
    kicked_users: list[str] = field(default_factory=list)
    failed_to_kick_users: list[str] = field(default_factory=list)
    local_aliases: list[str] = field(default_factory=list)
    new_room_id: str | None = None
    # Why the room was not purged as asked, if it was not.
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kicked_users": self.kicked_users,
            "failed_to_kick_users": self.failed_to_kick_users,
            "local_aliases": self.local_aliases,
            "new_room_id": self.new_room_id,
        }


class RoomAdmin:
    def __init__(
        self,
        *,
        server_name: str,
        store: RoomAdminStore,
        accounts: AccountStore,
        events: EventStore,
        rooms: RoomStore,
        sender: EventSender,
        membership: RoomMembership,
        creator: RoomCreator,
        aliases: AliasStore,
        directory: DirectoryStore,
        purger: RoomPurger,
    ) -> None:
        self._server_name = server_name
        self._store = store
        self._accounts = accounts
        self._events = events
        self._rooms = rooms
        self._sender = sender
        self._membership = membership
        self._creator = creator
        self._aliases = aliases
        self._directory = directory
        self._purger = purger
        # delete_id → (room ID, result) of the deletions asked through the v2 API, which
        # answers with an ID to poll; only the latest are kept, in memory.
        self._deletions: dict[str, tuple[str, DeletionResult]] = {}

    async def list_rooms(self, query: RoomQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of the rooms matching `query`, and how many match in all."""
        published = set(await self._directory.published_rooms())
        listed = await self._store.list_rooms()
        states = await self._events.get_many_current_states([c.room_id for c in listed], SUMMARY_TYPES)
        rooms = [_summary(counts, published, states.get(counts.room_id, {})) for counts in listed]
        if query.search_term:
            needle = query.search_term.lower()
            rooms = [r for r in rooms if _matches(r, needle)]
        if query.public_rooms is not None:
            rooms = [r for r in rooms if r["public"] == query.public_rooms]
        if query.empty_rooms is not None:
            rooms = [r for r in rooms if (r["joined_local_members"] == 0) == query.empty_rooms]
        order_by = _ALIASES.get(query.order_by, query.order_by)
        rooms.sort(key=_order_key(order_by), reverse=query.reverse != (order_by in LARGEST_FIRST))
        return rooms[query.start : query.start + query.limit], len(rooms)

    async def get_room(self, room_id: str) -> dict[str, Any]:
        found = await self._store.list_rooms(room_id)
        if not found:
            raise not_found("Room not found")
        published = {room_id} if await self._directory.is_published(room_id) else set()
        details = _summary(found[0], published, await self._events.get_current_state(room_id, SUMMARY_TYPES))
        state = await self._events.get_current_state(room_id, ["m.room.avatar", "m.room.topic"])
        details["avatar"] = state_content_field(state, "m.room.avatar", "url")
        details["topic"] = state_content_field(state, "m.room.topic", "topic")
        details["forgotten"] = False
        return details

    async def members(self, room_id: str) -> list[str]:
        await self.require_room(room_id)
        return sorted(await self._rooms.get_joined_members(room_id))

    async def state(self, room_id: str) -> list[Any]:
        await self.require_room(room_id)
        return list((await self._events.get_current_state(room_id)).values())

    async def forward_extremities(self, room_id: str) -> list[dict[str, Any]]:
        await self.require_room(room_id)
        event_ids = await self._events.get_forward_extremities(room_id)
        events = await self._events.get_events(event_ids)
        # Veche keeps no state groups nor receipt times: the event's own timestamp stands in.
        return [
            {"event_id": e.event_id, "state_group": None, "depth": e.depth, "received_ts": e.origin_server_ts}
            for e in (events[event_id] for event_id in event_ids if event_id in events)
        ]

    async def require_room(self, room_id: str) -> None:
        if not await self._store.list_rooms(room_id):
            raise not_found("Room not found")

    async def block(self, admin: str, room_id: str, blocked: bool) -> None:
        if blocked:
            await self._store.block(room_id, admin)
        else:
            await self._store.unblock(room_id)

    async def blocked_by(self, room_id: str) -> str | None:
        return await self._store.blocked_by(room_id)

    async def check_join(self, user_id: str, room_id: str) -> None:
        """A `RoomMembership.join_checks` entry: nobody joins a blocked room."""
        if await self._store.blocked_by(room_id) is not None:
            raise forbidden("This room has been blocked on this server")

    async def delete(self, admin: str, room_id: str, request: RoomDeletion) -> DeletionResult:
        """Every local member leaves (and forgets the room); its local aliases and directory
        entry go; with `block`, no one may join again; with `new_room_user_id`, the members
        are moved into a new room holding `message`; with `purge`, what the server stores
        of the room goes (but its block), unless a local user could not be made to leave
        and `force_purge` is not set (then the result says so in `error`)."""
        known = bool(await self._store.list_rooms(room_id))
        if not known and not request.block:
            raise not_found("Room not found")
        if request.new_room_user_id is not None:
            await self._require_local_account(request.new_room_user_id)
        if request.block:
            await self._store.block(room_id, admin)
        result = DeletionResult()
        if not known:
            return result
        if request.new_room_user_id is not None:
            result.new_room_id = await self._notice_room(request)
        for user_id in await self._local_members(room_id):
            try:
                await self._membership.update_membership(user_id, room_id, user_id, {"membership": "leave"})
                await self._membership.forget(user_id, room_id)
                if result.new_room_id is not None:
                    await self._membership.update_membership(
                        user_id, result.new_room_id, user_id, {"membership": "join"}
                    )
            except MatrixError as e:
                logger.warning("Could not remove %s from %s: %s", user_id, room_id, e)
                result.failed_to_kick_users.append(user_id)
                continue
            result.kicked_users.append(user_id)
        result.local_aliases = await self._remove_aliases(room_id, result.new_room_id)
        await self._directory.unpublish(room_id)
        if request.purge:
            if result.failed_to_kick_users and not request.force_purge:
                result.error = "Some local users could not leave the room, so it was not purged (see force_purge)"
            else:
                await self._purger.purge(room_id)
        return result

    def record_deletion(self, room_id: str, result: DeletionResult) -> str:
        """An ID under which the v2 API's status endpoints find this deletion."""
        delete_id = secrets.token_urlsafe(12)
        self._deletions[delete_id] = (room_id, result)
        while len(self._deletions) > KEPT_DELETIONS:
            del self._deletions[next(iter(self._deletions))]
        return delete_id

    def deletion(self, delete_id: str) -> DeletionResult:
        found = self._deletions.get(delete_id)
        if found is None:
            raise not_found("delete id not found")
        return found[1]

    def deletions_of(self, room_id: str) -> list[tuple[str, DeletionResult]]:
        found = [(delete_id, result) for delete_id, (rid, result) in self._deletions.items() if rid == room_id]
        if not found:
            raise not_found("No delete task for room_id found")
        return found

    async def _notice_room(self, request: RoomDeletion) -> str:
        creator = request.new_room_user_id
        assert creator is not None
        room_id = await self._creator.create_room(
            creator,
            {"preset": "public_chat", "name": request.room_name, "power_level_content_override": {"users_default": -10}},
        )
        await self._sender.send(room_id, creator, EventDraft("m.room.message", {"msgtype": "m.text", "body": request.message}))
        return room_id

    async def _local_members(self, room_id: str) -> list[str]:
        members = await self._rooms.get_members(room_id, ["join", "invite", "knock"])
        return sorted(u for u in members if u.endswith(":" + self._server_name))

    async def _remove_aliases(self, room_id: str, new_room_id: str | None) -> list[str]:
        if new_room_id is not None:
            return await self._aliases.move_room_aliases(room_id, new_room_id)
        aliases = await self._aliases.aliases_of_room(room_id)
        for alias in aliases:
            await self._aliases.delete(alias)
        return aliases

    async def _require_local_account(self, user_id: str) -> None:
        if not user_id.endswith(":" + self._server_name):
            raise invalid_param("new_room_user_id must be a local user")
        account = await self._accounts.get_account(user_id)
        if account is None or account.deactivated:
            raise invalid_param(f"User {user_id} does not exist or is deactivated")


def _summary(counts: RoomCounts, published: set[str], state: dict[StateKey, Event]) -> dict[str, Any]:
    """A room's line in Synapse's room list, from its counts and its SUMMARY_TYPES state."""
    create = state.get(("m.room.create", ""))
    create_content = create.content if create is not None else {}
    return {
        "room_id": counts.room_id,
        "name": state_content_field(state, "m.room.name", "name"),
        "canonical_alias": state_content_field(state, "m.room.canonical_alias", "alias"),
        "joined_members": counts.joined_members,
        "joined_local_members": counts.joined_local_members,
        "version": counts.version,
        "creator": create_content.get("creator", create.sender if create is not None else None),
        "encryption": state_content_field(state, "m.room.encryption", "algorithm"),
        "federatable": create_content.get("m.federate", True) is not False,
        "public": counts.room_id in published,
        "join_rules": state_content_field(state, "m.room.join_rules", "join_rule"),
        "guest_access": state_content_field(state, "m.room.guest_access", "guest_access"),
        "history_visibility": state_content_field(state, "m.room.history_visibility", "history_visibility"),
        "state_events": counts.state_events,
        "room_type": create_content.get("type"),
    }


def state_content_field(state: dict[tuple[str, str], Any], event_type: str, key: str) -> Any:
    """A scalar field of a state event's content; None if the event or the field is missing."""
    event = state.get((event_type, ""))
    if event is None:
        return None
    value = event.content.get(key)
    return value if isinstance(value, (str, int, bool)) else None


def _matches(room: dict[str, Any], needle: str) -> bool:
    return any(isinstance(room[k], str) and needle in room[k].lower() for k in ("name", "canonical_alias", "room_id"))


def _order_key(order_by: str) -> Any:
    def key(room: dict[str, Any]) -> tuple[Any, ...]:
        value = room[order_by]
        # Missing values after the others; ties by room ID. Values of one field share a type.
        return (value is None, "" if value is None else value, room["room_id"])

    return key
