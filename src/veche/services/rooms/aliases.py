"""Room aliases: this server's alias mappings and the m.room.canonical_alias checks.

Spec: client-server-api/_index.md "Room aliases"; directory.yaml; room_state.yaml (the
M_BAD_ALIAS rule for m.room.canonical_alias). Only aliases of this server can be created
here; resolving other servers' aliases needs the federation query, which plugs in as
`RemoteAliasResolver`.
"""

from __future__ import annotations

from typing import Any, Protocol

from veche.errors import MatrixError, forbidden, invalid_param, not_found
from veche.protocol.events import Event
from veche.protocol.identifiers import InvalidIdentifier, RoomAlias, parse_room_alias, validate_room_id
from veche.protocol.power_levels import get_required_event_level, get_user_power_level
from veche.protocol.visibility import normalize_history_visibility
from veche.services.appservices.registry import AppServices
from veche.services.rooms.sending import EventDraft, EventSender
from veche.storage.accounts import AccountStore
from veche.storage.room_directory import AliasStore
from veche.storage.stores import EventStores

CANONICAL_ALIAS = "m.room.canonical_alias"


class RemoteAliasResolver(Protocol):
    async def resolve(self, alias: str) -> tuple[str, list[str]] | None:
        """(room_id, servers) from the alias's own server, or None if it has no such alias."""
        ...


class RoomAliases:
    def __init__(
        self,
        *,
        server_name: str,
        sender: EventSender,
        stores: EventStores,
        aliases: AliasStore,
        accounts: AccountStore,
        remote: RemoteAliasResolver | None = None,
        appservices: AppServices | None = None,
    ) -> None:
        self._server_name = server_name
        # Their exclusive alias namespaces, and the services to ask about unknown aliases.
        self._appservices = appservices
        self._sender = sender
        self._stores = stores
        self._aliases = aliases
        self._accounts = accounts
        self._remote = remote

    async def resolve(self, alias: str) -> tuple[str, list[str]]:
        """(room_id, servers that know the room) for an alias; 404 M_NOT_FOUND if unmapped."""
        parsed = _parse(alias)
        found = await self._lookup(parsed)
        if found is None:
            raise not_found(f"Room alias {alias} not found")
        return found

    async def create(self, user_id: str, alias: str, room_id: str) -> None:
        """Map a new alias of this server to a room the user is joined to (server admins: any room)."""
        parsed = self._parse_local(alias)
        if self._appservices is not None:
            self._appservices.check_alias(user_id, str(parsed))
        try:
            validate_room_id(room_id)
        except InvalidIdentifier as e:
            raise invalid_param(str(e)) from None
        if await self._stores.rooms.get_room_version(room_id) is None:
            raise not_found(f"Unknown room {room_id}")
        if not await self._is_joined(user_id, room_id) and not await self._is_server_admin(user_id):
            raise forbidden("You must be in the room to give it an alias")
        if not await self._aliases.create(str(parsed), room_id, user_id):
            raise MatrixError(409, "M_UNKNOWN", f"Room alias {alias} already exists")

    async def delete(self, user_id: str, alias: str) -> None:
        """Remove an alias: its creator, a room admin or a server admin may (directory.yaml lets
        servers choose; room admins are those who may send m.room.canonical_alias)."""
        parsed = self._parse_local(alias)
        mapping = await self._aliases.get(str(parsed))
        if mapping is None:
            raise not_found(f"Room alias {alias} not found")
        room_id, creator = mapping
        if not (
            user_id == creator
            or await self._may_send_canonical_alias(user_id, room_id)
            or await self._is_server_admin(user_id)
        ):
            raise forbidden("You may not delete this alias")
        await self._aliases.delete(str(parsed))
        await self._drop_from_canonical_alias(user_id, room_id, str(parsed))

    async def local_aliases(self, user_id: str, room_id: str) -> list[str]:
        """GET /rooms/{roomId}/aliases: for members, anyone if world-readable, server admins."""
        history = await self._stores.events.get_current_state_event(room_id, "m.room.history_visibility")
        world_readable = history is not None and (
            normalize_history_visibility(history.content.get("history_visibility")) == "world_readable"
        )
        if not (
            world_readable or await self._is_joined(user_id, room_id) or await self._is_server_admin(user_id)
        ):
            raise forbidden("You are not a member of the room")
        return await self._aliases.aliases_of_room(room_id)

    async def aliases_of_room(self, room_id: str) -> list[str]:
        return await self._aliases.aliases_of_room(room_id)

    async def send_canonical_alias(self, user_id: str, room_id: str, draft: EventDraft) -> str:
        """PUT /state/m.room.canonical_alias: the aliases must be valid and point to this room."""
        events = self._stores.events
        previous = await events.get_current_state_event(room_id, CANONICAL_ALIAS, draft.state_key or "")
        for alias in new_aliases(draft.content, previous.content if previous is not None else {}):
            found = await self._lookup(_parse(alias))
            if found is None or found[0] != room_id:
                raise MatrixError(400, "M_BAD_ALIAS", f"The alias {alias} does not point to this room")
        event = await self._sender.send(room_id, user_id, draft)
        return event.event_id

    # Helpers

    async def _lookup(self, alias: RoomAlias) -> tuple[str, list[str]] | None:
        if alias.server_name != self._server_name:
            return await self._remote.resolve(str(alias)) if self._remote is not None else None
        room_id = await self._aliases.resolve(str(alias))
        if room_id is None and self._appservices is not None and await self._appservices.query_alias(str(alias)):
            # The service that answered has just created the room and its alias.
            room_id = await self._aliases.resolve(str(alias))
        if room_id is None:
            return None
        return room_id, await self._servers_in_room(room_id)

    async def _servers_in_room(self, room_id: str) -> list[str]:
        """This server first, then the other servers with joined members (by member count)."""
        counts: dict[str, int] = {}
        for user_id in await self._stores.rooms.get_joined_members(room_id):
            server = user_id.split(":", 1)[1]
            counts[server] = counts.get(server, 0) + 1
        others = sorted((s for s in counts if s != self._server_name), key=lambda s: (-counts[s], s))
        return [self._server_name, *others]

    def _parse_local(self, alias: str) -> RoomAlias:
        parsed = _parse(alias)
        if parsed.server_name != self._server_name:
            raise invalid_param(f"Room alias {alias} does not belong to this server ({self._server_name})")
        return parsed

    async def _is_joined(self, user_id: str, room_id: str) -> bool:
        member = await self._stores.events.get_current_state_event(room_id, "m.room.member", user_id)
        return member is not None and member.membership == "join"

    async def _is_server_admin(self, user_id: str) -> bool:
        account = await self._accounts.get_account(user_id)
        return account is not None and account.is_admin

    async def _may_send_canonical_alias(self, user_id: str, room_id: str) -> bool:
        state = await self._stores.events.get_current_state(room_id, ["m.room.create", "m.room.power_levels"])
        create = state.get(("m.room.create", ""))
        power_levels = state.get(("m.room.power_levels", ""))
        if create is None or not await self._is_joined(user_id, room_id):
            return False
        level = get_user_power_level(user_id, power_levels, create)
        return level >= get_required_event_level(CANONICAL_ALIAS, True, power_levels)

    async def _drop_from_canonical_alias(self, user_id: str, room_id: str, alias: str) -> None:
        """directory.yaml: servers may update m.room.canonical_alias when an alias goes, and the
        deletion stands even if the user may not send that event."""
        current = await self._stores.events.get_current_state_event(room_id, CANONICAL_ALIAS)
        if current is None:
            return
        content = _without_alias(current, alias)
        if content is None:
            return
        try:
            await self._sender.send(room_id, user_id, EventDraft(CANONICAL_ALIAS, content, ""))
        except MatrixError as e:
            if e.errcode != "M_FORBIDDEN":
                raise


def new_aliases(content: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """The aliases of an m.room.canonical_alias content that need checking: those not already
    in the current event (an alias that has since moved must not block other edits).

    Raises 400 M_INVALID_PARAM if any alias is malformed."""
    alias = content.get("alias")
    alt_aliases = content.get("alt_aliases", [])
    if alias is not None and not isinstance(alias, str):
        raise invalid_param("alias must be a string")
    if not isinstance(alt_aliases, list) or not all(isinstance(a, str) for a in alt_aliases):
        raise invalid_param("alt_aliases must be a list of strings")
    candidates = ([alias] if alias else []) + alt_aliases
    for candidate in candidates:
        _parse(candidate)
    old_alt = previous.get("alt_aliases")
    known = {previous.get("alias")}
    if isinstance(old_alt, list):
        known.update(a for a in old_alt if isinstance(a, str))
    return [a for a in dict.fromkeys(candidates) if a not in known]


def _without_alias(event: Event, alias: str) -> dict[str, Any] | None:
    """The canonical alias content without `alias`, or None if it does not mention it."""
    content = dict(event.content)
    changed = False
    if content.get("alias") == alias:
        del content["alias"]
        changed = True
    alt = content.get("alt_aliases")
    if isinstance(alt, list) and alias in alt:
        content["alt_aliases"] = [a for a in alt if a != alias]
        changed = True
    return content if changed else None


def _parse(alias: str) -> RoomAlias:
    try:
        return parse_room_alias(alias)
    except InvalidIdentifier as e:
        raise invalid_param(f"Room alias invalid: {e}") from None
