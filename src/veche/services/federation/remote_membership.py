"""Local users joining, knocking on and leaving rooms this server does not hold, and
inviting users of other servers: the `RemoteMembership` seam of services/rooms/membership.py.

Spec: server-server-api.md "Joining Rooms", "Knocking upon a room", "Inviting to a room",
"Leaving Rooms (Rejecting Invites)"; joins-v2.yaml, knocks.yaml, invites-v2.yaml,
leaving-v2.yaml.

A join asks a resident server for a template (make_join), fills in and signs our event,
and sends it (send_join v2). The answer's state and auth chain are checked like any
received events (signatures, hashes, auth rules) and stored as outliers; our join is then
persisted with that state before it, so the room's current state is that state plus our
join and the join is the room's only forward extremity. Later events reach us in
transactions and extend it.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from veche.errors import MatrixError, forbidden
from veche.protocol.auth_rules import CREATE_KEY, AuthError, auth_types_for_event, check_auth_rules
from veche.protocol.event_ids import compute_event_id
from veche.protocol.events import Event, StateKey
from veche.protocol.federation_checks import InvalidPdu, parse_pdu
from veche.protocol.hashing import add_hashes_and_signatures
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion
from veche.protocol.signing import SignatureError, SigningKey
from veche.services.federation.client import (
    FederationClient,
    FederationError,
    FederationHttpError,
    federation_path,
)
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.invites import FederatedInvites, OutOfBandMemberships
from veche.services.federation.receiver import PduReceiver
from veche.services.federation.remote_errors import relay_failure
from veche.services.federation.sender import server_of
from veche.storage.stores import EventStores

logger = logging.getLogger(__name__)

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"
# A send_join answer carries the whole room state; big rooms need room.
SEND_JOIN_MAX_RESPONSE_BYTES = 512 * 1024 * 1024
SEND_JOIN_TIMEOUT_SECONDS = 300.0
HANDSHAKE_TIMEOUT_SECONDS = 30.0
# Fields of a make_* template that the joining server fills in itself.
_NOT_FROM_TEMPLATE = ("signatures", "hashes", "unsigned")


class FederatedMembership:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        client: FederationClient,
        verifier: EventVerifier,
        receiver: PduReceiver,
        stores: EventStores,
        invites: FederatedInvites,
        out_of_band: OutOfBandMemberships,
        now_ms: Callable[[], int],
    ) -> None:
        self._invites = invites
        self._out_of_band = out_of_band
        self._server_name = server_name
        self._signing_key = signing_key
        self._client = client
        self._verifier = verifier
        self._receiver = receiver
        self._stores = stores
        self._now_ms = now_ms

    # RemoteMembership

    async def join(self, user_id: str, room_id: str, servers: Sequence[str], content: dict[str, Any]) -> str:
        await self._through_servers(room_id, user_id, servers, lambda server: self._join_via(server, user_id, room_id, content))
        return room_id

    async def knock(self, user_id: str, room_id: str, servers: Sequence[str], content: dict[str, Any]) -> str:
        await self._through_servers(
            room_id, user_id, servers, lambda server: self._knock_via(server, user_id, room_id, content)
        )
        return room_id

    async def leave(self, user_id: str, room_id: str, servers: Sequence[str], content: dict[str, Any]) -> None:
        """Reject an invite or retract a knock on a room this server does not hold."""
        await self._through_servers(
            room_id, user_id, servers, lambda server: self._leave_via(server, user_id, room_id, content)
        )

    async def invite(self, sender: str, room_id: str, target: str, content: dict[str, Any]) -> Event:
        return await self._invites.invite_remote(sender, room_id, target, content)

    # The handshakes

    async def _through_servers(
        self, room_id: str, user_id: str, servers: Sequence[str], attempt: Callable[[str], Awaitable[None]]
    ) -> None:
        # An invite or knock kept here names a server that is in the room.
        member = await self._stores.events.get_current_state_event(room_id, "m.room.member", user_id)
        known = _servers_named_by(member) if member is not None else []
        candidates = [s for s in dict.fromkeys([*servers, *known]) if s != self._server_name]
        if not candidates and ":" in room_id and server_of(room_id) != self._server_name:
            # Before v12 a room ID names the server that made it, a good first guess.
            candidates = [server_of(room_id)]
        if not candidates:
            raise MatrixError(404, "M_NOT_FOUND", f"No known servers to reach {room_id} through")
        refusal: MatrixError | None = None
        for server in candidates:
            try:
                await attempt(server)
                return
            except FederationError as e:
                logger.info("Membership handshake for %s via %s failed: %s", room_id, server, e)
                if isinstance(e, FederationHttpError) and e.errcode is not None and 400 <= e.status < 500:
                    refusal = relay_failure(e)
        if refusal is not None:
            # A resident server's own answer (banned, not invited …) tells the client why.
            raise refusal
        # As Synapse answers when none of the servers could be reached.
        raise MatrixError(404, "M_NOT_FOUND", f"No known servers to reach {room_id} through")

    async def _template(
        self, server: str, kind: str, user_id: str, room_id: str, content: Mapping[str, Any]
    ) -> tuple[RoomVersion, dict[str, Any]]:
        query = {"ver": sorted(KNOWN_ROOM_VERSIONS)} if kind != "leave" else None
        answer = await self._client.get_json(
            server,
            federation_path(V1 + "/make_" + kind + "/{}/{}", room_id, user_id),
            query,
            timeout=HANDSHAKE_TIMEOUT_SECONDS,
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("event"), dict):
            raise MatrixError(502, "M_UNKNOWN", f"{server} sent no event template")
        room_version = KNOWN_ROOM_VERSIONS.get(str(answer.get("room_version", "1")))
        if room_version is None:
            raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"{room_id} has a room version we do not know")
        template = answer["event"]
        if (
            template.get("type") != "m.room.member"
            or template.get("state_key") != user_id
            or template.get("sender") != user_id
            or template.get("room_id") != room_id
        ):
            raise MatrixError(502, "M_UNKNOWN", f"{server} sent a template for another event")
        return room_version, self._sign_template(template, room_version, kind, content)

    def _sign_template(
        self, template: Mapping[str, Any], room_version: RoomVersion, kind: str, content: Mapping[str, Any]
    ) -> dict[str, Any]:
        pdu = {k: v for k, v in template.items() if k not in _NOT_FROM_TEMPLATE}
        template_content = template.get("content") if isinstance(template.get("content"), dict) else {}
        pdu["content"] = {**content, "membership": kind}
        # Restricted rooms: the resident server names who vouches for the join.
        authoriser = template_content.get("join_authorised_via_users_server")
        if kind == "join" and isinstance(authoriser, str):
            pdu["content"]["join_authorised_via_users_server"] = authoriser
        pdu["origin_server_ts"] = self._now_ms()
        if "origin" in pdu:
            pdu["origin"] = self._server_name
        if room_version.event_format is EventFormat.V1:
            pdu["event_id"] = f"${_random_string(18)}:{self._server_name}"
        else:
            pdu.pop("event_id", None)
        add_hashes_and_signatures(pdu, room_version, self._server_name, self._signing_key)
        return pdu

    async def _join_via(self, server: str, user_id: str, room_id: str, content: Mapping[str, Any]) -> None:
        room_version, pdu = await self._template(server, "join", user_id, room_id, content)
        join = Event(pdu, room_version, compute_event_id(pdu, room_version))
        async with self._receiver.joining(room_id):
            await self._send_join(server, join)

    async def _send_join(self, server: str, join: Event) -> None:
        room_id, room_version, pdu = join.room_id, join.room_version, join.pdu
        answer = await self._client.put_json(
            server,
            federation_path(V2 + "/send_join/{}/{}", room_id, join.event_id),
            pdu,
            timeout=SEND_JOIN_TIMEOUT_SECONDS,
            max_response_size=SEND_JOIN_MAX_RESPONSE_BYTES,
        )
        if not isinstance(answer, dict):
            raise MatrixError(502, "M_UNKNOWN", f"{server} sent a malformed send_join answer")
        join = await self._countersigned(answer.get("event"), join)
        state_pdus = _pdu_list(answer.get("state"))
        chain_pdus = _pdu_list(answer.get("auth_chain"))
        stored = await self._receiver.import_outliers(server, room_id, room_version, [*chain_pdus, *state_pdus])
        state: dict[StateKey, str] = {}
        for raw in state_pdus:
            event_id = _event_id_of(raw, room_version)
            event = stored.get(event_id) if event_id is not None else None
            if event is not None and event.is_state and event.rejected_reason is None:
                state[event.state_tuple] = event.event_id
        await self._check_join(join, state, stored)
        await self._receiver.persist_with_state(join, state)

    async def _countersigned(self, returned: Any, join: Event) -> Event:
        """The resident server's copy of our join when it added its signature (restricted
        joins); otherwise our own."""
        if not isinstance(returned, dict):
            return join
        try:
            event = parse_pdu(returned, join.room_version)
        except InvalidPdu:
            return join
        if event.event_id != join.event_id:
            return join
        try:
            return await self._verifier.verify(event)
        except SignatureError as e:
            raise MatrixError(502, "M_UNKNOWN", f"The signed join sent back is not valid: {e}") from None

    async def _check_join(self, join: Event, state: Mapping[StateKey, str], stored: Mapping[str, Event]) -> None:
        """The state must hold the room's create event, and allow our join."""
        create_id = state.get(CREATE_KEY)
        create = stored.get(create_id) if create_id is not None else None
        if create is None or create.room_id != join.room_id:
            raise MatrixError(502, "M_UNKNOWN", "The room state sent back has no create event")
        keys = auth_types_for_event(join.room_version, join.type, join.state_key, join.sender, join.content)
        wanted = {key: state[key] for key in (CREATE_KEY, *keys) if key in state}
        events = {**stored, **await self._stores.events.get_events(i for i in wanted.values() if i not in stored)}
        try:
            check_auth_rules(join, {key: events[i] for key, i in wanted.items() if i in events})
        except AuthError as e:
            raise forbidden(f"The room's state does not allow this join: {e.reason}") from None

    async def _knock_via(self, server: str, user_id: str, room_id: str, content: Mapping[str, Any]) -> None:
        room_version, pdu = await self._template(server, "knock", user_id, room_id, content)
        knock = Event(pdu, room_version, compute_event_id(pdu, room_version))
        answer = await self._client.put_json(
            server,
            federation_path(V1 + "/send_knock/{}/{}", room_id, knock.event_id),
            pdu,
            timeout=HANDSHAKE_TIMEOUT_SECONDS,
        )
        preview = answer.get("knock_room_state") if isinstance(answer, dict) else None
        unsigned = {"knock_room_state": _pdu_list(preview)}
        await self._out_of_band.record(Event({**pdu, "unsigned": unsigned}, room_version, knock.event_id))

    async def _leave_via(self, server: str, user_id: str, room_id: str, content: Mapping[str, Any]) -> None:
        room_version, pdu = await self._template(server, "leave", user_id, room_id, content)
        leave = Event(pdu, room_version, compute_event_id(pdu, room_version))
        await self._client.put_json(
            server,
            federation_path(V2 + "/send_leave/{}/{}", room_id, leave.event_id),
            pdu,
            timeout=HANDSHAKE_TIMEOUT_SECONDS,
        )
        await self._out_of_band.record(leave)


def _servers_named_by(member: Event) -> list[str]:
    """Servers in the room as an invite or knock kept here shows them: the inviter's, and
    those of the preview's senders."""
    unsigned = member.pdu.get("unsigned")
    preview = []
    if isinstance(unsigned, dict):
        preview = _pdu_list(unsigned.get("invite_room_state")) + _pdu_list(unsigned.get("knock_room_state"))
    senders = [member.sender, *(e["sender"] for e in preview if isinstance(e.get("sender"), str))]
    return list(dict.fromkeys(server_of(sender) for sender in senders))


def _pdu_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [pdu for pdu in value if isinstance(pdu, dict)]


def _event_id_of(pdu: Mapping[str, Any], room_version: RoomVersion) -> str | None:
    try:
        return parse_pdu(dict(pdu), room_version).event_id
    except InvalidPdu:
        return None


def _random_string(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters) for _ in range(length))
