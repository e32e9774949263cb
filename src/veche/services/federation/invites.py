"""Invites across servers, both ways (server-server-api.md "Inviting to a room";
invites-v2.yaml), and how this server keeps a membership in a room it does not hold.

Outgoing: a local user invites a user of another server into a room held here. The invite
is built on the room's current state and signed by us, sent with invite v2 (and a stripped
state preview), and the copy sent back, now also signed by the invitee's server, is
received like any PDU of the room (so it is authorised, persisted, announced and sent on).

Incoming: another server invites a local user. The invite is checked (shape, the sending
server's signature), signed by us and kept "out of band": stored with the room's state
before it being only what this server knew of the room (usually nothing), never made a
forward extremity, so the room's current state here holds the user's membership (what
/sync reads for its invite section) while the server still does not take part in the
room. The preview the inviting server sent is kept in the event's `unsigned` as
`invite_room_state`. An invite of a user who blocks invites is refused before we sign it
(403 M_INVITE_BLOCKED, modules/invite_permission.md). Rejections and knocks made through other servers are kept the
same way.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from veche.errors import MatrixError, bad_json, forbidden
from veche.protocol.client_events import strip_event_for_invite
from veche.protocol.event_ids import compute_event_id
from veche.protocol.events import Event
from veche.protocol.federation_checks import InvalidPdu, parse_pdu
from veche.protocol.invite_permission import INVITE_BLOCKED
from veche.protocol.hashing import add_hashes_and_signatures
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, EventFormat
from veche.protocol.signing import SignatureError, SigningKey
from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.client import FederationClient, FederationError, federation_path
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.membership_requests import MembershipRequests, countersign
from veche.services.federation.receiver import PduError, PduReceiver
from veche.services.federation.remote_errors import relay_failure
from veche.services.federation.sender import server_of
from veche.services.rooms.sending import EventSender
from veche.storage.stores import EventStores

logger = logging.getLogger(__name__)

V2 = "/_matrix/federation/v2"
INVITE_TIMEOUT_SECONDS = 30.0
# client-server-api "Stripped state": what an invitee may see of the room beforehand.
INVITE_STATE_TYPES = (
    "m.room.create",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.join_rules",
    "m.room.canonical_alias",
    "m.room.encryption",
)


class OutOfBandMemberships:
    """Memberships of local users in rooms this server does not take part in."""

    def __init__(self, *, stores: EventStores, sender: EventSender) -> None:
        self._stores = stores
        self._sender = sender

    async def record(self, event: Event) -> None:
        room_id = event.room_id
        async with self._sender.room_lock(room_id):
            if await self._stores.events.get_forward_extremities(room_id):
                # The room is held here after all: the event arrives through the room.
                return
            known = await self._stores.state.get_current_state_ids(room_id)
            # Soft failed: stored with a stream position and counted as the user's
            # membership, yet neither shown in a timeline nor made a forward extremity.
            persisted = await self._stores.events.persist_event(
                event, state_before=dict(known), soft_failed=True, advance_current_state=True
            )
        await self._sender.announce(event, persisted.stream_ordering)


class FederatedInvites:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        client: FederationClient,
        verifier: EventVerifier,
        receiver: PduReceiver,
        requests: MembershipRequests,
        stores: EventStores,
        out_of_band: OutOfBandMemberships,
        acl: ServerAclChecker,
        invites_blocked: Callable[[str], Awaitable[bool]],
    ) -> None:
        self._server_name = server_name
        self._signing_key = signing_key
        self._client = client
        self._verifier = verifier
        self._receiver = receiver
        self._requests = requests
        self._stores = stores
        self._out_of_band = out_of_band
        self._acl = acl
        self._invites_blocked = invites_blocked

    async def invite_remote(self, sender: str, room_id: str, target: str, content: dict[str, Any]) -> Event:
        """Our `sender` invites `target` of another server into a room held here."""
        room_version = await self._stores.rooms.get_room_version(room_id)
        if room_version is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Unknown room {room_id}")
        state_ids = await self._stores.state.get_current_state_ids(room_id)
        pdu = await self._requests.template(room_id, room_version, sender, target, content, state_ids)
        pdu.pop("origin", None)
        if room_version.event_format is EventFormat.V1:
            pdu["event_id"] = f"${_random_string(18)}:{self._server_name}"
        add_hashes_and_signatures(pdu, room_version, self._server_name, self._signing_key)
        invite = Event(pdu, room_version, compute_event_id(pdu, room_version))
        destination = server_of(target)
        try:
            answer = await self._client.put_json(
                destination,
                federation_path(V2 + "/invite/{}/{}", room_id, invite.event_id),
                {
                    "room_version": room_version.identifier,
                    "event": pdu,
                    "invite_room_state": await self._invite_room_state(room_id, sender),
                },
                timeout=INVITE_TIMEOUT_SECONDS,
            )
        except FederationError as e:
            raise relay_failure(e) from None
        returned = answer.get("event") if isinstance(answer, dict) else None
        try:
            signed = parse_pdu(returned, room_version)
            if signed.event_id != invite.event_id:
                raise InvalidPdu("it is another event")
            signed = await self._verifier.verify(signed)
        except (InvalidPdu, SignatureError) as e:
            raise MatrixError(502, "M_UNKNOWN", f"{destination} sent back a bad invite: {e}") from None
        try:
            received = await self._receiver.receive_event(self._server_name, signed)
        except PduError as e:
            raise forbidden(e.reason) from None
        if received.rejected_reason is not None:
            raise forbidden(received.rejected_reason)
        return received

    async def receive_invite(self, origin: str, room_id: str, event_id: str, body: Any) -> dict[str, Any]:
        """Invite v2 for one of our users: the event signed by us as well."""
        if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
            raise bad_json("The body must hold the invite event")
        room_version = KNOWN_ROOM_VERSIONS.get(str(body.get("room_version")))
        if room_version is None:
            raise MatrixError(
                400, "M_INCOMPATIBLE_ROOM_VERSION", "This server does not support the room's version",
                room_version=body.get("room_version"),
            )
        try:
            event = parse_pdu(body["event"], room_version)
        except InvalidPdu as e:
            raise bad_json(f"Invalid event: {e}") from None
        target = event.state_key or ""
        if (
            event.event_id != event_id
            or event.room_id != room_id
            or event.type != "m.room.member"
            or event.membership != "invite"
            or server_of(target) != self._server_name
            or server_of(event.sender) != origin
        ):
            raise bad_json("Expected an invite of a user of this server, sent by a user of the origin")
        if not await self._acl.is_allowed(room_id, origin):
            raise forbidden(f"{origin} is denied by the room's server ACL")
        try:
            event = await self._verifier.verify(event)
        except SignatureError as e:
            raise forbidden(f"Bad signature: {e}") from None
        if await self._invites_blocked(target):
            raise MatrixError(403, INVITE_BLOCKED, f"{target} does not accept invites")
        pdu = countersign(event, self._server_name, self._signing_key)
        invite_state = body.get("invite_room_state")
        stored_pdu = {**pdu, "unsigned": {"invite_room_state": _stripped_list(invite_state)}}
        await self._out_of_band.record(Event(stored_pdu, room_version, event.event_id))
        return {"event": pdu}

    async def _invite_room_state(self, room_id: str, sender: str) -> list[dict[str, Any]]:
        state = await self._stores.events.get_current_state(room_id, INVITE_STATE_TYPES)
        preview = [strip_event_for_invite(e) for key, e in sorted(state.items()) if key[1] == ""]
        member = await self._stores.events.get_current_state_event(room_id, "m.room.member", sender)
        if member is not None:
            preview.append(strip_event_for_invite(member))
        return preview


def _stripped_list(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [e for e in value if isinstance(e, dict) and isinstance(e.get("type"), str)]


def _random_string(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters) for _ in range(length))
