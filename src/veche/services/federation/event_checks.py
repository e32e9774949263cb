"""Checks 2 and 3 of "Checks performed on receipt of a PDU" (server-server-api.md):
signatures, then the content hash.

`EventVerifier.verify(event)` raises `SignatureError` when a server that must sign the
event (`servers_required_to_sign`) has no valid signature on it; the event must then be
dropped. Otherwise it returns the event, or its redacted copy when the content hash does
not match ("Validating hashes and signatures on received events").
"""

from __future__ import annotations

from veche.protocol.auth_rules import servers_required_to_sign
from veche.protocol.canonical_json import CanonicalJsonError
from veche.protocol.events import Event
from veche.protocol.hashing import check_content_hash
from veche.protocol.redaction import redact, redact_shallow
from veche.protocol.signing import SignatureError
from veche.services.federation.keyring import Keyring


class EventVerifier:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    async def verify(self, event: Event) -> Event:
        await self.check_signatures(event)
        return self.checked_hash(event)

    async def check_signatures(self, event: Event) -> None:
        rv = event.room_version
        # Signatures cover the redacted event, so a redacted copy verifies too.
        redacted = redact_shallow(event.pdu, rv)
        # v5-signing-requirements.md: from v5 on a key must be valid when the event was
        # made; before, any key the server ever published will do.
        valid_at = event.origin_server_ts if rv.enforce_key_validity else None
        for server in sorted(servers_required_to_sign(event)):
            try:
                await self._keyring.verify_json(
                    server, redacted, valid_at_ts=valid_at, strict=rv.strict_canonical_json
                )
            except CanonicalJsonError as e:
                raise SignatureError(f"cannot check {server}'s signature: {e}") from None

    @staticmethod
    def checked_hash(event: Event) -> Event:
        if check_content_hash(event.pdu, event.room_version):
            return event
        return Event(redact(event.pdu, event.room_version), event.room_version, event.event_id)
