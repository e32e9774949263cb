"""POST /createRoom: the create event, then the events the request implies, in the spec's order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from veche.errors import MatrixError, bad_json
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.protocol.invite_permission import INVITE_BLOCKED
from veche.protocol.room_creation import (
    EventSpec,
    InvalidCreateRoomRequest,
    create_event_content,
    parse_create_room_request,
    plan_initial_events,
)
from veche.protocol.room_versions import UnsupportedRoomVersion, get_room_version
from veche.services.rooms.sending import EventDraft, EventSender, InitialEventRefused
from veche.storage.room_directory import AliasStore, DirectoryStore

ProfileLookup = Callable[[str], Awaitable[dict[str, Any]]]
# RoomMembership.update_membership(sender, room_id, target, content): an invite of another
# server's user is a handshake with that server, not a plain event.
MembershipUpdate = Callable[[str, str, str, dict[str, Any]], Awaitable[object]]


class RoomCreator:
    def __init__(
        self,
        *,
        server_name: str,
        default_room_version: str,
        sender: EventSender,
        aliases: AliasStore,
        directory: DirectoryStore,
        update_membership: MembershipUpdate,
        member_profile: ProfileLookup | None = None,
    ) -> None:
        self._server_name = server_name
        self._default_room_version = default_room_version
        self._sender = sender
        self._aliases = aliases
        self._directory = directory
        self._update_membership = update_membership
        self._member_profile = member_profile
        # Each called with (creator, alias) for a room_alias_name; raises to refuse it
        # (application services' exclusive alias namespaces).
        self.alias_checks: list[Callable[[str, str], None]] = []

    async def create_room(self, creator: str, body: dict[str, Any]) -> str:
        try:
            request = parse_create_room_request(body)
        except InvalidCreateRoomRequest as e:
            raise bad_json(str(e)) from None
        try:
            room_version = get_room_version(request.room_version or self._default_room_version)
        except UnsupportedRoomVersion:
            raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"Unsupported room version {request.room_version}")
        for invitee in request.invite:
            try:
                parse_user_id(invitee)
            except InvalidIdentifier as e:
                raise MatrixError(400, "M_INVALID_PARAM", f"invite: {e}") from None

        alias = None
        if request.room_alias_name is not None:
            alias = self._alias_for(request.room_alias_name)
            for check in self.alias_checks:
                check(creator, alias)
            if await self._aliases.resolve(alias) is not None:
                raise MatrixError(400, "M_ROOM_IN_USE", f"Room alias {alias} is already taken")

        try:
            content = create_event_content(request, creator, room_version)
        except InvalidCreateRoomRequest as e:
            raise bad_json(str(e)) from None
        profile = await self._member_profile(creator) if self._member_profile else {}
        plan = plan_initial_events(request, creator, room_version, alias, profile)

        # The creator's own events go in the create event's transaction, up to the first
        # invite (invites take the membership service: another server's user is a
        # handshake). With an alias, the create event goes alone: the alias is taken
        # before any event names it.
        chained = 0 if alias is not None else next(
            (i for i, spec in enumerate(plan) if spec.type == "m.room.member" and spec.state_key != creator),
            len(plan),
        )
        try:
            create = await self._sender.create_room(
                creator, room_version, content, [_draft(spec) for spec in plan[:chained]]
            )
        except InitialEventRefused as e:
            raise _invalid_state(e.draft.type, e.error) from None
        room_id = create.room_id
        if alias is not None and not await self._aliases.create(alias, room_id, creator):
            raise MatrixError(400, "M_ROOM_IN_USE", f"Room alias {alias} is already taken")
        blocked: MatrixError | None = None
        for spec in plan[chained:]:
            try:
                if spec.type == "m.room.member" and spec.state_key != creator:
                    await self._update_membership(creator, room_id, spec.state_key or "", spec.content)
                else:
                    await self._sender.send(room_id, creator, _draft(spec))
            except MatrixError as e:
                if not (spec.type == "m.room.member" and spec.state_key != creator):
                    raise _invalid_state(spec.type, e) from None
                if e.errcode != INVITE_BLOCKED:
                    raise
                # modules/invite_permission.md: the room is still created, and the others invited.
                blocked = e
        if request.visibility == "public":
            await self._directory.publish(room_id, self._sender.now_ms())
        if blocked is not None:
            # create_room.yaml's 403 M_INVITE_BLOCKED; room_id tells the client the room it made.
            raise MatrixError(blocked.status, blocked.errcode, blocked.message, room_id=room_id)
        return room_id

    def _alias_for(self, localpart: str) -> str:
        # Aliases follow the user ID localpart rules loosely; refuse what cannot be an alias.
        if not localpart or ":" in localpart or any(c.isspace() for c in localpart):
            raise MatrixError(400, "M_INVALID_PARAM", "room_alias_name is not a valid alias localpart")
        alias = f"#{localpart}:{self._server_name}"
        if len(alias.encode()) > 255:
            raise MatrixError(400, "M_INVALID_PARAM", "room_alias_name is too long")
        return alias


def _draft(spec: EventSpec) -> EventDraft:
    return EventDraft(spec.type, spec.content, spec.state_key)


def _invalid_state(event_type: str, error: MatrixError) -> MatrixError:
    """A refused initial state event is the request's fault (M_INVALID_ROOM_STATE)."""
    if error.errcode != "M_FORBIDDEN":
        return error
    return MatrixError(400, "M_INVALID_ROOM_STATE", f"{event_type}: {error.message}")
