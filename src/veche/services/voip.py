"""TURN credentials for VoIP calls (modules/voip_events.md, "Server behaviour").

The homeserver and the TURN server share a secret; the credentials are the standard
time-limited scheme of TURN servers' REST API (coturn's use-auth-secret): the username is
"<expiry unix time>:<user ID>" and the password the base64 HMAC-SHA1 of the username under
the shared secret, so the TURN server checks them without asking the homeserver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Any


def turn_credentials(shared_secret: str, user_id: str, expires_at: int) -> tuple[str, str]:
    """(username, password) valid until `expires_at` (unix seconds)."""
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(shared_secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


class TurnService:
    def __init__(self, uris: Sequence[str], shared_secret: str | None, lifetime_seconds: int) -> None:
        self._uris = list(uris)
        self._shared_secret = shared_secret
        self._lifetime_seconds = lifetime_seconds

    def credentials_for(self, user_id: str) -> dict[str, Any]:
        """The body of GET /voip/turnServer for `user_id`."""
        if not self._uris or self._shared_secret is None:
            # The spec lets a homeserver offer no TURN server but gives no answer for that
            # case; an empty object is what clients already read as "none" (Synapse's answer).
            return {}
        username, password = turn_credentials(
            self._shared_secret, user_id, int(time.time()) + self._lifetime_seconds
        )
        return {"username": username, "password": password, "uris": self._uris, "ttl": self._lifetime_seconds}
