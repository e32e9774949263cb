"""This server's own signing keys as peers see them: the signed response of
GET /_matrix/key/v2/server, and the keys the keyring trusts for ourselves.

Key rotation: the key in the signing key file signs everything; keys used before it are
listed in the `old_signing_keys` setting with the time they stopped being used, and are
published in `old_verify_keys` so that peers can still check the events they signed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from veche.protocol.server_keys import OldKey, ServerKey, build_key_response
from veche.protocol.signing import SigningKey

# How long peers may rely on our published key list before asking again. The spec asks
# for at least an hour; a day keeps peers' refetches rare while a rotation still spreads.
KEY_RESPONSE_LIFETIME_MS = 24 * 3600 * 1000


class LocalServerKeys:
    def __init__(
        self,
        server_name: str,
        signing_key: SigningKey,
        old_keys: Sequence[OldKey],
        clock: Callable[[], int],
    ) -> None:
        self.server_name = server_name
        self.signing_key = signing_key
        self._old_keys = tuple(old for old in old_keys if old.key_id != signing_key.key_id)
        self._clock = clock
        self._response: dict[str, Any] | None = None

    def key_response(self) -> dict[str, Any]:
        """Our signed key response, renewed once half of its validity has passed, as
        keys_server.yaml asks notaries to cache it for at most half its lifetime."""
        now = self._clock()
        response = self._response
        if response is None or response["valid_until_ts"] - now < KEY_RESPONSE_LIFETIME_MS // 2:
            response = build_key_response(
                self.server_name, self.signing_key, self._old_keys, now + KEY_RESPONSE_LIFETIME_MS
            )
            self._response = response
        return response

    def keys(self) -> dict[str, ServerKey]:
        """Our keys for checking our own signatures: the current one never lapses."""
        keys = {
            old.key_id: ServerKey(
                self.server_name, old.key_id, old.verify_key, old.expired_ts, expired=True
            )
            for old in self._old_keys
        }
        current = self.signing_key
        keys[current.key_id] = ServerKey(
            self.server_name, current.key_id, current.verify_key, 2**63 - 1, expired=False
        )
        return keys
