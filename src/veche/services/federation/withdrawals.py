"""A resident server withdrawing a local user's invite or refusing their knock, in a room
this server does not take part in (server-server-api.md "Inviting to a room", "Knocking
upon a room": the invite or knock is kept here out of band, see invites.py).

Such a leave reaches us in a transaction like any PDU, but without the room's state we
cannot run the auth rules on it. It is believed when it is signed by the sending server,
sent by a user of that server (whose ACL admits it), and cites the invite or knock it
ends among its auth events, which only a server in the room can know. It is then kept
out of band too, so the user's /sync moves the room to its leave section.
"""

from __future__ import annotations

import logging

from veche.protocol.events import Event
from veche.protocol.signing import SignatureError
from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.invites import OutOfBandMemberships
from veche.services.federation.sender import server_of
from veche.storage.stores import EventStores

logger = logging.getLogger(__name__)

WITHDRAWABLE = ("invite", "knock")


class WithdrawnMemberships:
    def __init__(
        self,
        *,
        server_name: str,
        stores: EventStores,
        verifier: EventVerifier,
        acl: ServerAclChecker,
        out_of_band: OutOfBandMemberships,
    ) -> None:
        self._server_name = server_name
        self._stores = stores
        self._verifier = verifier
        self._acl = acl
        self._out_of_band = out_of_band

    async def receive(self, origin: str, event: Event) -> bool:
        """Keep `event` if it withdraws an out-of-band invite or knock; False when it is
        not such a withdrawal (the caller handles it as any PDU)."""
        target = event.state_key
        if (
            event.type != "m.room.member"
            or event.membership != "leave"
            or target is None
            or target == event.sender
            or server_of(target) != self._server_name
            or server_of(event.sender) != origin
        ):
            return False
        if await self._stores.events.get_forward_extremities(event.room_id):
            return False
        member = await self._stores.events.get_current_state_event(event.room_id, "m.room.member", target)
        if member is None or member.membership not in WITHDRAWABLE or member.event_id not in event.auth_event_ids:
            return False
        if not await self._acl.is_allowed(event.room_id, origin):
            return False
        try:
            checked = await self._verifier.verify(event)
        except SignatureError as e:
            logger.info("Ignoring a withdrawal of %s's %s from %s: %s", target, member.membership, origin, e)
            return False
        await self._out_of_band.record(checked)
        return True
