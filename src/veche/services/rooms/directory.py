"""The published room directory: which rooms are listed, and the paginated, searchable list.

Spec: client-server-api/_index.md "Published room directory"; list_public_rooms.yaml,
definitions/public_rooms_response.yaml and public_rooms_chunk.yaml.

Who may change a room's visibility is left to servers. Veche follows Synapse: a joined
member whose power level allows sending m.room.canonical_alias (by default the room's
moderators), or a server administrator.

The list is ordered by joined member count (largest first), then room ID, which the spec
recommends as a stable order. Pagination tokens carry the sort key of the row they stop at
rather than an offset, so rooms joining the directory between pages neither repeat nor
vanish from the client's view.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from veche.errors import MatrixError, forbidden, invalid_param, not_found
from veche.protocol.events import Event
from veche.protocol.power_levels import get_required_event_level, get_user_power_level
from veche.protocol.visibility import normalize_history_visibility
from veche.storage.accounts import AccountStore
from veche.storage.room_directory import DirectoryStore
from veche.storage.stores import EventStores

# The state a directory entry is computed from.
SUMMARY_TYPES = (
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.topic",
    "m.room.canonical_alias",
    "m.room.avatar",
    "m.room.history_visibility",
    "m.room.guest_access",
)
VISIBILITIES = ("public", "private")

SortKey = tuple[int, str]


@dataclass(frozen=True, slots=True)
class PublicRoomsQuery:
    limit: int | None = None
    since: str | None = None
    search_term: str | None = None
    # None: any type; otherwise room types to keep, None inside meaning "no type".
    room_types: Sequence[str | None] | None = None
    third_party_instance_id: str | None = None


class RemoteDirectory(Protocol):
    async def public_rooms(self, server: str, query: PublicRoomsQuery) -> dict[str, Any]:
        """Another server's directory, over federation."""
        ...


class PublicRoomDirectory:
    def __init__(
        self,
        *,
        server_name: str,
        directory: DirectoryStore,
        stores: EventStores,
        accounts: AccountStore,
        remote: RemoteDirectory | None = None,
    ) -> None:
        self._server_name = server_name
        self._directory = directory
        self._stores = stores
        self._accounts = accounts
        self._remote = remote

    async def get_visibility(self, room_id: str) -> str:
        if await self._stores.rooms.get_room_version(room_id) is None:
            raise not_found("Room not found")
        return "public" if await self._directory.is_published(room_id) else "private"

    async def set_visibility(self, user_id: str, room_id: str, visibility: str, now_ms: int) -> None:
        if visibility not in VISIBILITIES:
            raise invalid_param("visibility must be 'public' or 'private'")
        if await self._stores.rooms.get_room_version(room_id) is None:
            raise not_found("Room not found")
        if not await self._may_publish(user_id, room_id):
            raise forbidden("You may not change this room's visibility in the directory")
        if visibility == "public":
            await self._directory.publish(room_id, now_ms)
        else:
            await self._directory.unpublish(room_id)

    async def public_rooms(self, query: PublicRoomsQuery, server: str | None = None) -> dict[str, Any]:
        if server is not None and server != self._server_name:
            if self._remote is None:
                raise MatrixError(404, "M_NOT_FOUND", f"Cannot reach {server}'s room directory")
            return await self._remote.public_rooms(server, query)
        if query.limit is not None and query.limit < 0:
            raise invalid_param("limit must not be negative")
        if query.third_party_instance_id is not None:
            # No application service offers third-party networks here, so none has rooms.
            return {"chunk": [], "total_room_count_estimate": 0}
        entries = [e for e in await self._entries() if _matches(e, query)]
        entries.sort(key=_sort_key)
        return _page(entries, query.limit, query.since)

    async def _entries(self) -> list[dict[str, Any]]:
        """A chunk entry per published room, from three queries whatever the room count."""
        state_ids = await self._directory.published_room_state(SUMMARY_TYPES)
        counts = await self._directory.published_joined_counts()
        events = await self._stores.events.get_events(
            event_id for room_state in state_ids.values() for event_id in room_state.values()
        )
        entries = []
        for room_id, room_state in state_ids.items():
            state = {t: events[e] for t, e in room_state.items() if e in events}
            if "m.room.create" in state:
                entries.append(room_summary(room_id, state, counts.get(room_id, 0)))
        return entries

    async def _may_publish(self, user_id: str, room_id: str) -> bool:
        account = await self._accounts.get_account(user_id)
        if account is not None and account.is_admin:
            return True
        state = await self._stores.events.get_current_state(room_id, ["m.room.create", "m.room.power_levels"])
        member = await self._stores.events.get_current_state_event(room_id, "m.room.member", user_id)
        create = state.get(("m.room.create", ""))
        if create is None or member is None or member.membership != "join":
            return False
        power_levels = state.get(("m.room.power_levels", ""))
        required = get_required_event_level("m.room.canonical_alias", True, power_levels)
        return get_user_power_level(user_id, power_levels, create) >= required


def room_summary(room_id: str, state: Mapping[str, Event], joined: int) -> dict[str, Any]:
    """The public_rooms_chunk.yaml entry for a room, from its current state (keyed by type)."""

    def field(event_type: str, key: str) -> Any:
        event = state.get(event_type)
        return event.content.get(key) if event is not None else None

    history = normalize_history_visibility(field("m.room.history_visibility", "history_visibility"))
    entry: dict[str, Any] = {
        "room_id": room_id,
        "num_joined_members": joined,
        "world_readable": history == "world_readable",
        "guest_can_join": field("m.room.guest_access", "guest_access") == "can_join",
        # public_rooms_chunk.yaml: a missing join rule reads as public.
        "join_rule": _string(field("m.room.join_rules", "join_rule")) or "public",
    }
    optional = {
        "name": field("m.room.name", "name"),
        "topic": field("m.room.topic", "topic"),
        "canonical_alias": field("m.room.canonical_alias", "alias"),
        "avatar_url": field("m.room.avatar", "url"),
        "room_type": field("m.room.create", "type"),
    }
    entry.update({k: v for k, v in optional.items() if _string(v)})
    return entry


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _matches(entry: Mapping[str, Any], query: PublicRoomsQuery) -> bool:
    if query.room_types is not None and entry.get("room_type") not in query.room_types:
        return False
    if query.search_term:
        term = query.search_term.casefold()
        haystacks = (entry.get("name"), entry.get("topic"), entry.get("canonical_alias"))
        return any(isinstance(h, str) and term in h.casefold() for h in haystacks)
    return True


def _sort_key(entry: Mapping[str, Any]) -> SortKey:
    return (-entry["num_joined_members"], entry["room_id"])


def _page(entries: list[dict[str, Any]], limit: int | None, since: str | None) -> dict[str, Any]:
    keys = [_sort_key(e) for e in entries]
    size = len(entries) if limit is None else limit
    if since is None:
        start = 0
        end = min(size, len(entries))
    else:
        forward, key = _decode_token(since)
        if forward:
            start = _first_index(keys, lambda k: k > key)
            end = min(start + size, len(entries))
        else:
            end = _first_index(keys, lambda k: k >= key)
            start = max(0, end - size)
    response: dict[str, Any] = {"chunk": entries[start:end], "total_room_count_estimate": len(entries)}
    if end < len(entries) and end > start:
        response["next_batch"] = _encode_token(True, keys[end - 1])
    if start > 0:
        response["prev_batch"] = _encode_token(False, keys[start])
    return response


def _first_index(keys: list[SortKey], predicate: Any) -> int:
    for i, key in enumerate(keys):
        if predicate(key):
            return i
    return len(keys)


def _encode_token(forward: bool, key: SortKey) -> str:
    raw = orjson.dumps(["n" if forward else "p", key[0], key[1]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[bool, SortKey]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        direction, negated_count, room_id = orjson.loads(raw)
        if direction not in ("n", "p") or not isinstance(negated_count, int) or not isinstance(room_id, str):
            raise ValueError(token)
    except (ValueError, TypeError):
        raise invalid_param("Unknown pagination token") from None
    return direction == "n", (negated_count, room_id)
