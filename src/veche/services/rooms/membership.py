"""Room membership on a local user's behalf: join, invite, leave, forget, kick, ban, unban, knock.

Spec: client-server-api/_index.md "Room membership"; joining.yaml, inviting.yaml,
leaving.yaml, kicking.yaml, banning.yaml, knocking.yaml, list_joined_rooms.yaml. Every
membership change, whether through these endpoints or PUT /state/m.room.member, goes
through `update_membership`, so the endpoint rules below cannot be side-stepped. The room
version's auth rules are the final word; the checks here only give clearer errors and the
behaviour the endpoints promise (idempotent joins and invites, kicks only of members,
no invites to a user who blocks them: modules/invite_permission.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from veche.errors import MatrixError, bad_json, forbidden, invalid_param, not_found
from veche.protocol.events import Event, StateKey
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.protocol.invite_permission import INVITE_BLOCKED
from veche.protocol.join_rules import restricted_allow_list
from veche.protocol.power_levels import get_named_level, get_user_power_level
from veche.services.ratelimit import RateLimit, RateLimiter, RateLimits
from veche.services.rooms.aliases import RoomAliases
from veche.services.rooms.creation import ProfileLookup
from veche.services.rooms.sending import EventDraft, EventSender
from veche.storage.forgotten_rooms import ForgottenRoomStore
from veche.storage.stores import EventStores

MEMBERSHIPS = frozenset({"join", "invite", "leave", "ban", "knock"})
# The profile fields a membership event repeats (m.room.member schema).
PROFILE_FIELDS = ("displayname", "avatar_url")
# A user who is still in one of these memberships has not left the room.
IN_ROOM = frozenset({"join", "invite", "knock"})

CREATE_KEY: StateKey = ("m.room.create", "")
JOIN_RULES_KEY: StateKey = ("m.room.join_rules", "")
POWER_LEVELS_KEY: StateKey = ("m.room.power_levels", "")

# user ID → whether they refuse every invite (modules/invite_permission.md).
InvitesBlocked = Callable[[str], Awaitable[bool]]
# (user_id, room_id) → raises a MatrixError if the user may not join the room at all.
JoinCheck = Callable[[str, str], Awaitable[None]]


class RemoteMembership(Protocol):
    """Membership handshakes with other servers, which federation will provide.

    Each returns the room ID once the membership event is part of the room here.
    """

    async def join(self, user_id: str, room_id: str, servers: Sequence[str], content: dict[str, Any]) -> str: ...

    async def knock(self, user_id: str, room_id: str, servers: Sequence[str], content: dict[str, Any]) -> str: ...

    async def invite(self, sender: str, room_id: str, target: str, content: dict[str, Any]) -> Event: ...

    async def leave(self, user_id: str, room_id: str, servers: Sequence[str], content: dict[str, Any]) -> None: ...


class RoomMembership:
    def __init__(
        self,
        *,
        server_name: str,
        sender: EventSender,
        stores: EventStores,
        aliases: RoomAliases,
        forgotten: ForgottenRoomStore,
        member_profile: ProfileLookup | None = None,
        remote: RemoteMembership | None = None,
        ratelimiter: RateLimiter | None = None,
    ) -> None:
        self._server_name = server_name
        self._sender = sender
        self._stores = stores
        self._aliases = aliases
        self._forgotten = forgotten
        self._member_profile = member_profile
        self._remote = remote
        self._ratelimiter = ratelimiter
        self._invites_blocked: InvitesBlocked | None = None
        # Server-wide refusals before any room rule (rooms an admin blocked).
        self.join_checks: list[JoinCheck] = []

    def use_remote(self, remote: RemoteMembership) -> None:
        """Federation, built after this service, provides the handshakes with other servers."""
        self._remote = remote

    def use_invite_permission(self, invites_blocked: InvitesBlocked) -> None:
        """Account data, built after this service, tells whose invites are blocked."""
        self._invites_blocked = invites_blocked

    # The endpoints

    async def join(
        self,
        user_id: str,
        room_id_or_alias: str,
        *,
        reason: str | None = None,
        via: Sequence[str] = (),
        third_party_signed: Any = None,
        is_guest: bool = False,
    ) -> str:
        """Join the room (by ID or alias); returns its room ID."""
        if third_party_signed is not None:
            raise MatrixError(
                400, "M_UNRECOGNIZED", "Joining with third_party_signed (third-party invites) is not supported"
            )
        room_id, servers = await self._resolve(room_id_or_alias, via)
        for check in self.join_checks:
            await check(user_id, room_id)
        content = {"membership": "join", **await self._profile(user_id)}
        if reason is not None:
            content["reason"] = reason
        if not await self._participating(room_id):
            return await self._remote_join(user_id, room_id, servers, content)
        self._rate_limit(RateLimits.JOIN_LOCAL, user_id)
        if is_guest:
            await self._require_guest_access(room_id)
        await self.update_membership(user_id, room_id, user_id, content)
        return room_id

    async def knock(
        self, user_id: str, room_id_or_alias: str, *, reason: str | None = None, via: Sequence[str] = ()
    ) -> str:
        room_id, servers = await self._resolve(room_id_or_alias, via)
        content = {"membership": "knock", **await self._profile(user_id)}
        if reason is not None:
            content["reason"] = reason
        if not await self._participating(room_id):
            if self._remote is None:
                raise _no_known_servers(room_id)
            self._rate_limit(RateLimits.JOIN_REMOTE, user_id)
            return await self._remote.knock(user_id, room_id, servers, content)
        self._rate_limit(RateLimits.JOIN_LOCAL, user_id)
        await self.update_membership(user_id, room_id, user_id, content)
        return room_id

    async def invite(self, sender: str, room_id: str, target: str, reason: str | None = None) -> None:
        self._rate_limit(RateLimits.INVITE, sender)
        content: dict[str, Any] = {"membership": "invite"}
        if self._is_local(target):
            content.update(await self._profile(target))
        if reason is not None:
            content["reason"] = reason
        await self.update_membership(sender, room_id, target, content)

    async def leave(self, user_id: str, room_id: str, reason: str | None = None) -> None:
        if self._remote is not None and not await self._participating(room_id):
            # Rejecting an invite or retracting a knock on a room held elsewhere.
            member = await self._member_event(room_id, user_id)
            if member is not None and member.membership in ("invite", "knock"):
                await self._remote.leave(user_id, room_id, [], _content("leave", reason))
                return
        await self.update_membership(user_id, room_id, user_id, _content("leave", reason))

    async def kick(self, sender: str, room_id: str, target: str, reason: str | None = None) -> None:
        await self._require_target_membership(room_id, target, IN_ROOM, "is not in the room")
        await self.update_membership(sender, room_id, target, _content("leave", reason))

    async def ban(self, sender: str, room_id: str, target: str, reason: str | None = None) -> None:
        await self.update_membership(sender, room_id, target, _content("ban", reason))

    async def unban(self, sender: str, room_id: str, target: str, reason: str | None = None) -> None:
        await self._require_target_membership(room_id, target, {"ban"}, "is not banned")
        await self.update_membership(sender, room_id, target, _content("leave", reason))

    async def forget(self, user_id: str, room_id: str) -> None:
        member = await self._member_event(room_id, user_id)
        if member is None:
            return
        if member.membership in IN_ROOM:
            raise MatrixError(400, "M_UNKNOWN", f"User {user_id} is in room {room_id}")
        await self._forgotten.forget(user_id, room_id, member.event_id)

    async def joined_rooms(self, user_id: str) -> list[str]:
        return sorted(await self._stores.rooms.get_rooms_for_user(user_id, "join"))

    # For /sync: a forgotten room stays hidden until the user's membership changes again.

    async def is_forgotten(self, user_id: str, room_id: str) -> bool:
        return await self._forgotten.is_forgotten(user_id, room_id)

    async def forgotten_rooms(self, user_id: str) -> set[str]:
        return await self._forgotten.forgotten_rooms(user_id)

    # The one path every membership change takes

    async def send_member_state(self, sender: str, room_id: str, draft: EventDraft) -> str:
        """PUT /rooms/{roomId}/state/m.room.member/{userId}: the content as the client wrote it."""
        target = draft.state_key or ""
        try:
            parse_user_id(target)
        except InvalidIdentifier as e:
            raise invalid_param(f"state key: {e}") from None
        event = await self.update_membership(sender, room_id, target, draft.content)
        return event.event_id

    async def update_membership(self, sender: str, room_id: str, target: str, content: dict[str, Any]) -> Event:
        """Send `target`'s membership event, or return the current one when nothing would change."""
        membership = content.get("membership")
        if not isinstance(membership, str) or membership not in MEMBERSHIPS:
            raise bad_json(f"membership must be one of {sorted(MEMBERSHIPS)}")
        room_version = await self._stores.rooms.get_room_version(room_id)
        if room_version is None or not await self._participating(room_id):
            raise not_found(f"Unknown room {room_id}")
        state_ids = await self._stores.state.get_current_state_ids(room_id)
        keys = [("m.room.member", target), CREATE_KEY, JOIN_RULES_KEY, POWER_LEVELS_KEY]
        state = await self._load(state_ids, keys)
        current = state.get(("m.room.member", target))
        current_membership = current.membership if current is not None else None

        if current is not None and _unchanged(current, membership, content):
            # Joining a room one is in, or inviting someone already invited, changes nothing.
            return current
        if membership == "leave" and sender != target and current_membership not in (*IN_ROOM, "ban"):
            # kicking.yaml: one can only kick (or unban) a user who is in the room (or banned).
            raise forbidden(f"{target} is not in the room")
        if membership == "knock" and not room_version.knock_join_rule:
            raise forbidden(f"Room version {room_version.identifier} does not support knocking")
        if membership == "invite" and not self._is_local(target):
            # Their server refuses it with M_INVITE_BLOCKED itself if they block invites.
            return await self._remote_invite(sender, room_id, target, content)
        if membership == "invite" and self._invites_blocked is not None and await self._invites_blocked(target):
            raise MatrixError(403, INVITE_BLOCKED, f"{target} does not accept invites")
        if membership == "join" and sender == target and current_membership not in ("invite", "join"):
            authoriser = await self._restricted_join_authoriser(room_id, sender, state)
            if authoriser is not None:
                content = {**content, "join_authorised_via_users_server": authoriser}
        return await self._sender.send(room_id, sender, EventDraft("m.room.member", content, target))

    # Helpers

    async def _resolve(self, room_id_or_alias: str, via: Sequence[str]) -> tuple[str, list[str]]:
        if room_id_or_alias.startswith("#"):
            room_id, servers = await self._aliases.resolve(room_id_or_alias)
            return room_id, list(dict.fromkeys([*via, *servers]))
        if not room_id_or_alias.startswith("!"):
            raise invalid_param(f"{room_id_or_alias!r} is neither a room ID nor a room alias")
        return room_id_or_alias, list(via)

    async def _participating(self, room_id: str) -> bool:
        """Whether this server holds the room's state, so it can create events in it itself."""
        if await self._stores.rooms.get_room_version(room_id) is None:
            return False
        return bool(await self._stores.events.get_forward_extremities(room_id))

    async def _remote_join(self, user_id: str, room_id: str, servers: list[str], content: dict[str, Any]) -> str:
        # The seam federation fills: a join through one of `servers` (make_join/send_join).
        if self._remote is None:
            raise _no_known_servers(room_id)
        self._rate_limit(RateLimits.JOIN_REMOTE, user_id)
        return await self._remote.join(user_id, room_id, servers, content)

    async def _remote_invite(self, sender: str, room_id: str, target: str, content: dict[str, Any]) -> Event:
        # Another server must countersign an invite of its user (server-server-api.md "Inviting to a room").
        if self._remote is None:
            raise forbidden(f"Cannot invite {target}: this server cannot reach other servers yet")
        return await self._remote.invite(sender, room_id, target, content)

    async def _restricted_join_authoriser(
        self, room_id: str, user_id: str, state: Mapping[StateKey, Event]
    ) -> str | None:
        """For a restricted room, a joined local user who may invite and so vouches for the join.

        client-server-api/_index.md "Restricted rooms": the server must check the allow
        conditions itself; the auth rules then only see who vouched.
        """
        allowed_rooms = restricted_allow_list(state)
        if allowed_rooms is None:
            return None
        mine = set(await self._stores.rooms.get_rooms_for_user(user_id, "join"))
        if not any(r in mine for r in allowed_rooms):
            raise forbidden("You are not invited and not a member of a room this room's join rules allow")
        create, power_levels = state[CREATE_KEY], state.get(POWER_LEVELS_KEY)
        invite_level = get_named_level("invite", power_levels)
        candidates = sorted(
            (u for u in await self._stores.rooms.get_joined_members(room_id) if self._is_local(u)),
            key=lambda u: (-get_user_power_level(u, power_levels, create), u),
        )
        for candidate in candidates:
            if get_user_power_level(candidate, power_levels, create) >= invite_level:
                return candidate
        raise forbidden("No member of this server may invite you into this restricted room")

    async def _require_guest_access(self, room_id: str) -> None:
        # modules/guest_access.md: guests may join only where m.room.guest_access is can_join.
        guest_access = await self._stores.events.get_current_state_event(room_id, "m.room.guest_access")
        if guest_access is None or guest_access.content.get("guest_access") != "can_join":
            raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guests may not join this room")

    async def _require_target_membership(
        self, room_id: str, target: str, allowed: frozenset[str] | set[str], problem: str
    ) -> None:
        if await self._stores.rooms.get_room_version(room_id) is None:
            raise not_found(f"Unknown room {room_id}")
        member = await self._member_event(room_id, target)
        if member is None or member.membership not in allowed:
            raise forbidden(f"{target} {problem}")

    async def _member_event(self, room_id: str, user_id: str) -> Event | None:
        state_ids = await self._stores.state.get_current_state_ids(room_id)
        event_id = state_ids.get(("m.room.member", user_id))
        return await self._stores.events.get_event(event_id) if event_id is not None else None

    async def _load(self, state_ids: Mapping[StateKey, str], keys: list[StateKey]) -> dict[StateKey, Event]:
        wanted = {key: state_ids[key] for key in keys if key in state_ids}
        events = await self._stores.events.get_events(wanted.values())
        return {key: events[event_id] for key, event_id in wanted.items() if event_id in events}

    async def _profile(self, user_id: str) -> dict[str, Any]:
        if self._member_profile is None:
            return {}
        profile = await self._member_profile(user_id)
        return {k: profile[k] for k in PROFILE_FIELDS if profile.get(k) is not None}

    def _rate_limit(self, limit: RateLimit, user_id: str) -> None:
        if self._ratelimiter is not None:
            self._ratelimiter.check(limit, user_id)

    def _is_local(self, user_id: str) -> bool:
        return user_id.endswith(":" + self._server_name) and user_id.index(":") == len(user_id) - len(
            self._server_name
        ) - 1


def _content(membership: str, reason: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"membership": membership}
    if reason is not None:
        content["reason"] = reason
    return content


def _unchanged(current: Event, membership: str, content: Mapping[str, Any]) -> bool:
    if current.membership != membership or membership not in ("join", "invite"):
        return False
    return all(current.content.get(k) == content.get(k) for k in PROFILE_FIELDS)


def _no_known_servers(room_id: str) -> MatrixError:
    # What Synapse answers when it cannot find a server to join a room through.
    return not_found(f"No known servers to join {room_id} through")
