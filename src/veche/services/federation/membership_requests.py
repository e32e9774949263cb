"""Other servers' users joining, leaving and knocking on rooms this server holds: the
resident side of make_join/send_join, make_leave/send_leave and make_knock/send_knock.

Spec: server-server-api.md "Joining Rooms" (and "Restricted rooms"), "Knocking upon a
room", "Leaving Rooms (Rejecting Invites)"; joins-v2.yaml, leaving-v2.yaml, knocks.yaml.

A template is built on the room's forward extremities and current state, as a local
event would be, and refused up front when the auth rules would refuse it. The signed
event that comes back is received like any PDU (every check of the event core), then sent
on to the other servers in the room.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from veche.errors import MatrixError, bad_json, forbidden, not_found
from veche.protocol.auth_rules import CREATE_KEY, AuthError, auth_types_for_event, check_auth_rules
from veche.protocol.client_events import strip_event_for_invite
from veche.protocol.events import Event, StateKey
from veche.protocol.federation_checks import InvalidPdu, parse_pdu
from veche.protocol.join_rules import restricted_allow_list
from veche.protocol.power_levels import get_named_level, get_user_power_level
from veche.protocol.redaction import redact
from veche.protocol.room_versions import EventFormat, RoomVersion
from veche.protocol.signing import SigningKey, sign_json
from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.receiver import PduError, PduReceiver
from veche.services.federation.sender import FederationSender, server_of
from veche.storage.stores import EventStores

JOIN_RULES_KEY: StateKey = ("m.room.join_rules", "")
POWER_LEVELS_KEY: StateKey = ("m.room.power_levels", "")
# Prev events a template cites, at most (as local events do).
MAX_PREV_EVENTS = 10
# client-server-api "Stripped state": what a knocking user may see of the room.
KNOCK_STATE_TYPES = (
    "m.room.create",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.join_rules",
    "m.room.canonical_alias",
    "m.room.encryption",
)


class MembershipRequests:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        stores: EventStores,
        receiver: PduReceiver,
        sender: FederationSender,
        acl: ServerAclChecker,
        now_ms: Callable[[], int],
    ) -> None:
        self._server_name = server_name
        self._signing_key = signing_key
        self._stores = stores
        self._receiver = receiver
        self._sender = sender
        self._acl = acl
        self._now_ms = now_ms

    async def make(
        self, origin: str, room_id: str, user_id: str, membership: str, supported: list[str] | None
    ) -> dict[str, Any]:
        """The answer of make_join / make_leave / make_knock: room version and template."""
        if server_of(user_id) != origin:
            raise forbidden(f"{origin} cannot ask on behalf of {user_id}")
        room_version = await self._room_version(origin, room_id)
        if supported is not None and room_version.identifier not in supported:
            raise MatrixError(
                400,
                "M_INCOMPATIBLE_ROOM_VERSION",
                f"Room {room_id} has version {room_version.identifier}, which your server does not support",
                room_version=room_version.identifier,
            )
        if membership == "knock" and not room_version.knock_join_rule:
            raise MatrixError(
                400, "M_INCOMPATIBLE_ROOM_VERSION", "This room's version does not allow knocking",
                room_version=room_version.identifier,
            )
        state_ids = await self._stores.state.get_current_state_ids(room_id)
        content: dict[str, Any] = {"membership": membership}
        if membership == "join":
            authoriser = await self._restricted_join_authoriser(room_id, user_id, state_ids)
            if authoriser is not None:
                content["join_authorised_via_users_server"] = authoriser
        template = await self.template(room_id, room_version, user_id, user_id, content, state_ids)
        return {"room_version": room_version.identifier, "event": template}

    async def send(self, origin: str, room_id: str, event_id: str, pdu: Any, membership: str) -> Event:
        """Receive the signed event of send_join / send_leave / send_knock; returns it as
        accepted (with our signature when we vouched for a restricted join)."""
        room_version = await self._room_version(origin, room_id)
        try:
            event = parse_pdu(pdu, room_version)
        except InvalidPdu as e:
            raise bad_json(f"Invalid event: {e}") from None
        if event.event_id != event_id or event.room_id != room_id:
            raise bad_json("The event does not match the request path")
        if (
            event.type != "m.room.member"
            or event.state_key != event.sender
            or server_of(event.sender) != origin
            or event.membership != membership
        ):
            raise bad_json(f"Expected a {membership} of a user of {origin}")
        authoriser = event.content.get("join_authorised_via_users_server")
        if membership == "join" and isinstance(authoriser, str) and server_of(authoriser) == self._server_name:
            # We vouch for this join: our signature is what the auth rules ask for.
            event = Event(countersign(event, self._server_name, self._signing_key), room_version, event.event_id)
        try:
            received = await self._receiver.receive_event(origin, event)
        except PduError as e:
            raise forbidden(e.reason) from None
        if received.rejected_reason is not None:
            raise forbidden(f"The event is not allowed: {received.rejected_reason}")
        await self._sender.send_event(received, received_from=origin)
        return received

    async def join_answer(self, join: Event) -> dict[str, Any]:
        """The body of a send_join answer: the state before the join and its auth chain."""
        state = await self.state_before(join)
        state_events = await self._stores.events.get_events_in_order(sorted(state.values()))
        chain = await self._stores.events.get_auth_chain([*state.values(), *join.auth_event_ids])
        servers = {server_of(user) for user in await self._stores.rooms.get_joined_members(join.room_id)}
        return {
            "origin": self._server_name,
            "state": [e.pdu for e in state_events],
            "auth_chain": [e.pdu for e in sorted(chain, key=lambda e: (e.depth, e.event_id))],
            "event": join.pdu,
            "members_omitted": False,
            "servers_in_room": sorted(servers),
        }

    async def knock_room_state(self, room_id: str) -> list[dict[str, Any]]:
        state = await self._stores.events.get_current_state(room_id, KNOCK_STATE_TYPES)
        return [strip_event_for_invite(e) for key, e in sorted(state.items()) if key[1] == ""]

    async def state_before(self, event: Event) -> dict[StateKey, str]:
        after = await self._stores.state.get_state_ids_after(event.event_id)
        if after is None:
            raise not_found(f"The state at {event.event_id} is unknown")
        state = dict(after)
        if event.is_state and state.get(event.state_tuple) == event.event_id:
            previous = None
            for prev_id in event.prev_event_ids:
                before = await self._stores.state.get_state_ids_after(prev_id)
                if before is not None:
                    previous = before.get(event.state_tuple)
                    break
            if previous is None:
                del state[event.state_tuple]
            else:
                state[event.state_tuple] = previous
        return state

    # Helpers

    async def _room_version(self, origin: str, room_id: str) -> RoomVersion:
        room_version = await self._stores.rooms.get_room_version(room_id)
        if room_version is None or not await self._stores.events.get_forward_extremities(room_id):
            raise not_found(f"Unknown room {room_id}")
        await self._acl.check(room_id, origin)
        return room_version

    async def template(
        self,
        room_id: str,
        room_version: RoomVersion,
        sender: str,
        target: str,
        content: dict[str, Any],
        state_ids: Mapping[StateKey, str],
    ) -> dict[str, Any]:
        """An unsigned m.room.member event on the room's extremities and current state;
        403 when the auth rules would refuse it."""
        extremities = await self._stores.events.get_forward_extremities(room_id)
        prev = sorted(
            (await self._stores.events.get_events(extremities)).values(), key=lambda e: e.depth, reverse=True
        )[:MAX_PREV_EVENTS]
        keys = auth_types_for_event(room_version, "m.room.member", target, sender, content)
        wanted = {key: state_ids[key] for key in (CREATE_KEY, *keys) if key in state_ids}
        loaded = await self._stores.events.get_events(wanted.values())
        auth_state = {key: loaded[i] for key, i in wanted.items() if i in loaded}
        auth_events = [auth_state[key] for key in keys if key in auth_state]
        template: dict[str, Any] = {
            "room_id": room_id,
            "type": "m.room.member",
            "sender": sender,
            "state_key": target,
            "content": content,
            "origin": self._server_name,
            "origin_server_ts": self._now_ms(),
            "depth": max((e.depth for e in prev), default=0) + 1,
            "prev_events": _references(prev, room_version),
            "auth_events": _references(auth_events, room_version),
        }
        # Refuse now what the auth rules would refuse (bans, join rules), with their reason.
        probe = Event({**template, "hashes": {}, "signatures": {}}, room_version, "$template")
        if "join_authorised_via_users_server" in content:
            # The rules ask for the vouching server's signature: ours, added on send_join.
            probe = Event(countersign(probe, self._server_name, self._signing_key), room_version, probe.event_id)
        try:
            check_auth_rules(probe, auth_state)
        except AuthError as e:
            raise forbidden(e.reason) from None
        return template

    async def _restricted_join_authoriser(
        self, room_id: str, user_id: str, state_ids: Mapping[StateKey, str]
    ) -> str | None:
        """For a restricted room, a local member who may invite and vouches for the join
        (server-server-api.md "Restricted rooms"); None when no vouching is needed."""
        wanted = {k: state_ids[k] for k in (CREATE_KEY, JOIN_RULES_KEY, POWER_LEVELS_KEY, ("m.room.member", user_id))
                  if k in state_ids}
        loaded = await self._stores.events.get_events(wanted.values())
        state = {key: loaded[i] for key, i in wanted.items() if i in loaded}
        member = state.get(("m.room.member", user_id))
        if member is not None and member.membership in ("invite", "join"):
            return None
        allowed = restricted_allow_list(state)
        if allowed is None:
            return None
        known = [r for r in allowed if await self._stores.events.get_forward_extremities(r)]
        if not known:
            raise MatrixError(400, "M_UNABLE_TO_AUTHORISE_JOIN", "This server knows none of the allowed rooms")
        if not set(known).intersection(await self._stores.rooms.get_rooms_for_user(user_id, "join")):
            raise forbidden("You are not a member of a room this room's join rules allow")
        create, power_levels = state[CREATE_KEY], state.get(POWER_LEVELS_KEY)
        invite_level = get_named_level("invite", power_levels)
        members = [u for u in await self._stores.rooms.get_joined_members(room_id) if server_of(u) == self._server_name]
        for candidate in sorted(members, key=lambda u: (-get_user_power_level(u, power_levels, create), u)):
            if get_user_power_level(candidate, power_levels, create) >= invite_level:
                return candidate
        raise MatrixError(400, "M_UNABLE_TO_GRANT_JOIN", "No user of this server may vouch for the join")


def countersign(event: Event, server_name: str, key: SigningKey) -> dict[str, Any]:
    """The event's PDU with `server_name`'s signature added; event signatures cover the
    redacted event (server-server-api.md "Signing events")."""
    rv = event.room_version
    redacted = redact(event.pdu, rv)
    redacted.pop("signatures", None)
    sign_json(redacted, server_name, key, strict=rv.strict_canonical_json)
    signatures = {server: dict(sigs) for server, sigs in event.pdu.get("signatures", {}).items()}
    signatures.setdefault(server_name, {}).update(redacted["signatures"][server_name])
    return {**event.pdu, "signatures": signatures}


def _references(events: list[Event], room_version: RoomVersion) -> list[Any]:
    if room_version.event_format is EventFormat.V1:
        return [[e.event_id, e.pdu.get("hashes", {})] for e in events]
    return [e.event_id for e in events]

