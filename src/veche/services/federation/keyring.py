"""The keyring: other servers' signing keys, fetched, checked, stored and cached
(server-server-api.md, "Retrieving server keys").

    key = await keyring.get_key("example.org", "ed25519:abc", valid_at_ts=now, current_only=True)
    await keyring.verify_json("example.org", event_dict, valid_at_ts=origin_server_ts)

`valid_at_ts` is when the signature was made: the key must have been valid then (for
events of room versions 5+ pass the event's origin_server_ts, for requests the current
time). `None` asks for no validity at all, as room versions 1–4 require.
`current_only=True` refuses keys a server lists only in old_verify_keys, which are good
for old events but never for requests.

A key not known (or not valid long enough) is fetched: first from the server itself
(GET /_matrix/key/v2/server), then from each configured notary (POST
/_matrix/key/v2/query, with minimum_valid_until_ts set as the v5 signing rules require).
A notary's answer counts only when the server's own self-signatures and the notary's
signature both check out. Concurrent look-ups for one server share a single fetch, and a
server whose fetch just failed is not asked again for a minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from veche.protocol.server_keys import (
    InvalidServerKeys,
    ServerKey,
    ServerKeys,
    add_notary_signature,
    parse_key_response,
)
from veche.protocol.signing import (
    InvalidKeyError,
    SignatureError,
    decode_verify_key_base64,
    encode_verify_key_base64,
    verify_signed_json,
)
from veche.services.federation.client import FederationClient, FederationError
from veche.services.federation.local_keys import LocalServerKeys
from veche.storage.server_keys import KeyToStore, ServerKeyStore

logger = logging.getLogger(__name__)

KEY_SERVER_PATH = "/_matrix/key/v2/server"
KEY_QUERY_PATH = "/_matrix/key/v2/query"
# After a fetch for a server, wait this long before fetching for it again.
REFETCH_INTERVAL_MS = 60 * 1000
KEY_FETCH_TIMEOUT_SECONDS = 20.0


class KeyLookupError(SignatureError):
    """No key that could check the signature was found (a `SignatureError`, since the
    signature then cannot be accepted)."""


@dataclass(frozen=True, slots=True)
class Notary:
    """A trusted key server; `verify_keys` (key ID → unpadded base64) pins its keys,
    otherwise they are fetched from it directly."""

    server_name: str
    verify_keys: dict[str, str] = field(default_factory=dict)


class Keyring:
    def __init__(
        self,
        *,
        local_keys: LocalServerKeys,
        store: ServerKeyStore,
        client: FederationClient,
        notaries: Sequence[Notary],
        clock: Callable[[], int],
    ) -> None:
        self.server_name = local_keys.server_name
        self._local = local_keys
        self._store = store
        self._client = client
        self._notaries = tuple(notaries)
        self._clock = clock
        self._cache: dict[str, dict[str, ServerKey]] = {}
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self._last_fetch: dict[str, int] = {}

    async def get_key(
        self,
        server_name: str,
        key_id: str,
        *,
        valid_at_ts: int | None,
        current_only: bool = False,
    ) -> ServerKey:
        """The key, fetched if need be; raises `KeyLookupError` if none fits."""
        if server_name == self.server_name:
            key = self._local.keys().get(key_id)
        else:
            key = (await self._known(server_name)).get(key_id)
            if not _fits(key, valid_at_ts, current_only):
                await self._refresh(server_name, key_id, valid_at_ts)
                key = self._cache[server_name].get(key_id)
        if key is None or not _fits(key, valid_at_ts, current_only):
            raise KeyLookupError(f"no valid key {key_id} of {server_name} could be found")
        return key

    async def verify_json(
        self,
        server_name: str,
        obj: dict[str, Any],
        *,
        valid_at_ts: int | None,
        strict: bool = True,
    ) -> None:
        """Raise `SignatureError` unless `obj` is signed by `server_name`.

        Every signature of `server_name` whose key can be found must verify, and at least
        one must be found.
        """
        signatures = obj.get("signatures")
        by_server = signatures.get(server_name) if isinstance(signatures, dict) else None
        if not isinstance(by_server, dict):
            raise SignatureError(f"not signed by {server_name}")
        key_ids = [key_id for key_id in by_server if key_id.startswith("ed25519:")]
        if not key_ids:
            raise SignatureError(f"not signed by {server_name}")
        checked = 0
        for key_id in key_ids:
            try:
                key = await self.get_key(server_name, key_id, valid_at_ts=valid_at_ts)
            except KeyLookupError:
                continue
            verify_signed_json(obj, server_name, key_id, key.verify_key, strict=strict)
            checked += 1
        if not checked:
            raise KeyLookupError(
                f"none of the keys {', '.join(key_ids)} of {server_name} is known"
            )

    async def notary_responses(
        self, server_name: str, key_ids: Sequence[str], minimum_valid_until_ts: int
    ) -> list[dict[str, Any]]:
        """Key responses of `server_name` as this server serves them as a notary: its own
        answers as stored (refreshed when too old), each with our signature added.

        An unreachable server's last known responses are still served, so that old
        signatures stay checkable (keys_server.yaml).
        """
        if server_name == self.server_name:
            return [self._local.key_response()]
        stored = await self._store.get_responses(server_name)
        wanted = [stored.get(key_id) for key_id in key_ids] if key_ids else list(stored.values())
        if not wanted or any(
            text is None or _response_valid_until(text) < minimum_valid_until_ts for text in wanted
        ):
            await self._refresh(server_name, None, minimum_valid_until_ts, notaries=False)
            stored = await self._store.get_responses(server_name)
        texts = {text for key_id, text in stored.items() if not key_ids or key_id in key_ids}
        signing_key = self._local.signing_key
        return [
            add_notary_signature(orjson.loads(text), self.server_name, signing_key)
            for text in sorted(texts)
        ]

    async def _known(self, server_name: str) -> dict[str, ServerKey]:
        keys = self._cache.get(server_name)
        if keys is None:
            keys = {}
            for stored in await self._store.get_keys(server_name):
                try:
                    verify_key = decode_verify_key_base64(stored.key_id, stored.verify_key)
                except InvalidKeyError:
                    continue
                keys[stored.key_id] = ServerKey(
                    server_name, stored.key_id, verify_key, stored.valid_until_ts, stored.expired
                )
            self._cache[server_name] = keys
        return keys

    async def _refresh(
        self,
        server_name: str,
        key_id: str | None,
        valid_at_ts: int | None,
        *,
        notaries: bool = True,
    ) -> None:
        pending = self._in_flight.get(server_name)
        if pending is not None:
            await asyncio.shield(pending)
            return
        last = self._last_fetch.get(server_name)
        if last is not None and self._clock() - last < REFETCH_INTERVAL_MS:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[server_name] = future
        try:
            self._last_fetch[server_name] = self._clock()
            await self._known(server_name)
            await self._fetch(server_name, key_id, valid_at_ts, notaries=notaries)
        finally:
            future.set_result(None)
            del self._in_flight[server_name]

    async def _fetch(
        self, server_name: str, key_id: str | None, valid_at_ts: int | None, *, notaries: bool
    ) -> None:
        try:
            await self._fetch_direct(server_name)
        except (FederationError, InvalidServerKeys) as e:
            logger.info("Fetching the keys of %s from it failed: %s", server_name, e)
        if not notaries or key_id is None:
            return
        if _fits(self._cache[server_name].get(key_id), valid_at_ts, False):
            return
        for notary in self._notaries:
            if notary.server_name == server_name:
                continue
            try:
                await self._fetch_from_notary(notary, server_name, key_id, valid_at_ts)
            except (FederationError, InvalidServerKeys, SignatureError) as e:
                logger.info(
                    "Fetching the keys of %s from notary %s failed: %s",
                    server_name, notary.server_name, e,
                )
                continue
            if _fits(self._cache[server_name].get(key_id), valid_at_ts, False):
                return

    async def _fetch_direct(self, server_name: str) -> None:
        response = await self._client.get_json(
            server_name, KEY_SERVER_PATH, timeout=KEY_FETCH_TIMEOUT_SECONDS
        )
        await self._remember(parse_key_response(response, server_name, self._clock()), server_name)

    async def _fetch_from_notary(
        self, notary: Notary, server_name: str, key_id: str, valid_at_ts: int | None
    ) -> None:
        minimum = valid_at_ts if valid_at_ts is not None else self._clock()
        body = {"server_keys": {server_name: {key_id: {"minimum_valid_until_ts": minimum}}}}
        answer = await self._client.post_json(
            notary.server_name, KEY_QUERY_PATH, body, timeout=KEY_FETCH_TIMEOUT_SECONDS
        )
        entries = answer.get("server_keys") if isinstance(answer, dict) else None
        if not isinstance(entries, list):
            raise InvalidServerKeys("notary answer lacks a server_keys list")
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("server_name") != server_name:
                continue
            keys = parse_key_response(entry, server_name, self._clock())
            await self._check_notary_signature(notary, entry)
            await self._remember(keys, notary.server_name)

    async def _check_notary_signature(self, notary: Notary, response: dict[str, Any]) -> None:
        if not notary.verify_keys:
            await self.verify_json(notary.server_name, response, valid_at_ts=self._clock())
            return
        signatures = response.get("signatures", {}).get(notary.server_name, {})
        for key_id, key_b64 in notary.verify_keys.items():
            if key_id in signatures:
                verify_signed_json(
                    response, notary.server_name, key_id, decode_verify_key_base64(key_id, key_b64)
                )
                return
        raise SignatureError(
            f"answer not signed by a configured key of notary {notary.server_name}"
        )

    async def _remember(self, keys: ServerKeys, source: str) -> None:
        await self._store.store_response(
            keys.server_name,
            [
                KeyToStore(
                    key.key_id,
                    encode_verify_key_base64(key.verify_key),
                    key.valid_until_ts,
                    key.expired,
                )
                for key in keys.keys.values()
            ],
            response_json=orjson.dumps(keys.response).decode(),
            response_valid_until_ts=keys.valid_until_ts,
            fetched_ts=self._clock(),
            source=source,
        )
        # Reload: the store keeps the freshest answer per key, which may not be this one.
        self._cache.pop(keys.server_name, None)
        await self._known(keys.server_name)


def _fits(key: ServerKey | None, valid_at_ts: int | None, current_only: bool) -> bool:
    return key is not None and key.valid_at(valid_at_ts) and not (current_only and key.expired)


def _response_valid_until(text: str) -> int:
    value = orjson.loads(text).get("valid_until_ts")
    return value if isinstance(value, int) else 0
