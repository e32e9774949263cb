"""Server signing-key responses: building ours and checking a peer's (server-server-api.md,
"Retrieving server keys"; data/api/server-server/definitions/keys.yaml).

A key response lists `verify_keys` (valid for requests and events) and `old_verify_keys`
(only for events signed before their `expired_ts`), with a `valid_until_ts` after which the
list must be refreshed. Every current key signs the response itself.

Key validity (rooms/fragments/v5-signing-requirements.md): a current key is trusted until
the lesser of `valid_until_ts` and 7 days after it was fetched, so a stolen key cannot be
published as valid for years. An old key is trusted for signatures made before it expired.
Room versions 1–4 ignore validity altogether; callers express that by not asking for any.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nacl.signing import VerifyKey

from veche.protocol.signing import (
    InvalidKeyError,
    SignatureError,
    SigningKey,
    decode_verify_key_base64,
    encode_verify_key_base64,
    sign_json,
    verify_signed_json,
)

# "Servers MUST use the lesser of valid_until_ts and 7 days into the future."
MAX_KEY_VALIDITY_MS = 7 * 24 * 3600 * 1000


class InvalidServerKeys(ValueError):
    """A key response that is malformed, for another server, or not signed by its keys."""


@dataclass(frozen=True, slots=True)
class ServerKey:
    """One public key of a server, with how long signatures by it are trusted."""

    server_name: str
    key_id: str
    verify_key: VerifyKey
    # Current key: min(valid_until_ts, fetched + 7 days). Old key: its expired_ts.
    valid_until_ts: int
    # True for a key listed in old_verify_keys: good for old events, never for requests.
    expired: bool

    def valid_at(self, ts: int | None) -> bool:
        """Whether a signature made at `ts` may be trusted; None asks for no validity."""
        return ts is None or ts <= self.valid_until_ts


@dataclass(frozen=True, slots=True)
class OldKey:
    """A key we no longer sign with, published in old_verify_keys."""

    key_id: str
    verify_key: VerifyKey
    expired_ts: int


@dataclass(frozen=True, slots=True)
class ServerKeys:
    """A checked key response."""

    server_name: str
    valid_until_ts: int
    keys: dict[str, ServerKey]
    # The response as received (signatures included), which a notary hands on.
    response: dict[str, Any]


def build_key_response(
    server_name: str, signing_key: SigningKey, old_keys: Iterable[OldKey], valid_until_ts: int
) -> dict[str, Any]:
    """Our own signed key response (GET /_matrix/key/v2/server)."""
    response = {
        "server_name": server_name,
        "verify_keys": {
            signing_key.key_id: {"key": encode_verify_key_base64(signing_key.verify_key)}
        },
        "old_verify_keys": {
            old.key_id: {"key": encode_verify_key_base64(old.verify_key), "expired_ts": old.expired_ts}
            for old in old_keys
        },
        "valid_until_ts": valid_until_ts,
    }
    return sign_json(response, server_name, signing_key)


def parse_key_response(response: Any, server_name: str, fetched_ts: int) -> ServerKeys:
    """Check a key response of `server_name` fetched at `fetched_ts` and read its keys.

    Raises `InvalidServerKeys` unless it names `server_name`, is well formed and carries a
    valid self-signature from every key in `verify_keys`.
    """
    if not isinstance(response, dict):
        raise InvalidServerKeys("a key response must be a JSON object")
    if response.get("server_name") != server_name:
        raise InvalidServerKeys(
            f"key response is for {response.get('server_name')!r}, not {server_name!r}"
        )
    valid_until_ts = response.get("valid_until_ts")
    if type(valid_until_ts) is not int:
        raise InvalidServerKeys("key response lacks an integer valid_until_ts")
    current = _key_map(response.get("verify_keys"), "verify_keys")
    if not current:
        raise InvalidServerKeys("key response lists no verify_keys")
    trusted_until = min(valid_until_ts, fetched_ts + MAX_KEY_VALIDITY_MS)
    keys: dict[str, ServerKey] = {}
    for key_id, entry in current.items():
        verify_key = _decode(key_id, entry)
        try:
            verify_signed_json(response, server_name, key_id, verify_key)
        except SignatureError as e:
            raise InvalidServerKeys(f"key response is not self-signed: {e}") from None
        keys[key_id] = ServerKey(server_name, key_id, verify_key, trusted_until, expired=False)
    old = _key_map(response.get("old_verify_keys", {}), "old_verify_keys")
    for key_id, entry in old.items():
        if key_id in keys:
            continue
        expired_ts = entry.get("expired_ts")
        if type(expired_ts) is not int:
            raise InvalidServerKeys(f"old key {key_id} lacks an integer expired_ts")
        keys[key_id] = ServerKey(server_name, key_id, _decode(key_id, entry), expired_ts, expired=True)
    return ServerKeys(server_name, valid_until_ts, keys, response)


def _key_map(value: Any, field: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise InvalidServerKeys(f"{field} must map key IDs to objects")
    # Only ed25519 is defined; keys of unknown algorithms are skipped, not fatal.
    return {key_id: entry for key_id, entry in value.items() if key_id.startswith("ed25519:")}


def _decode(key_id: str, entry: dict[str, Any]) -> VerifyKey:
    key = entry.get("key")
    if not isinstance(key, str):
        raise InvalidServerKeys(f"key {key_id} has no base64 'key'")
    try:
        return decode_verify_key_base64(key_id, key)
    except InvalidKeyError as e:
        raise InvalidServerKeys(str(e)) from None


def add_notary_signature(
    response: dict[str, Any], notary: str, signing_key: SigningKey
) -> dict[str, Any]:
    """A copy of a key response with the notary's signature added beside the others."""
    signed = dict(response)
    signed["signatures"] = {
        server: dict(sigs) for server, sigs in response.get("signatures", {}).items()
    }
    return sign_json(signed, notary, signing_key)
