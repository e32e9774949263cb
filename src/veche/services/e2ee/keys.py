"""Device keys, one-time and fallback keys: upload, query and claim (keys.yaml), and the
same for other servers (server-server user_keys.yaml, user_devices.yaml).

Keys of users on other servers are asked of their servers through `RemoteKeys`; servers
that do not answer (or all of them, without federation) are reported in `failures`.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from veche.errors import MatrixError, bad_json, invalid_param
from veche.protocol.e2e_keys import (
    BadKeySignature,
    InvalidKeyObject,
    check_device_keys,
    identity_keys,
    parse_one_time_keys,
)
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.services.e2ee.device_lists import DeviceLists
from veche.storage.accounts import AccountStore
from veche.storage.cache import LruCache
from veche.storage.e2e_keys import E2eKeyStore, KeyJson, OneTimeKey, StoredSignature

# Clients (the Rust crypto SDK among them) read a missing count as "unknown" rather than
# zero; the algorithm they use is always listed, as Synapse does.
ALWAYS_COUNTED = "signed_curve25519"
KEY_SUMMARY_CACHE_SIZE = 10_000
UNREACHABLE = {"status": 503, "message": "Federation is not available on this server"}
# keys.yaml `timeout`: "10 seconds is the recommended default".
DEFAULT_REMOTE_TIMEOUT_MS = 10_000


class RemoteKeys(Protocol):
    async def query(self, device_keys: dict[str, list[str]], timeout_ms: int) -> dict[str, Any]:
        """Other servers' users' keys: device_keys, master_keys, self_signing_keys, failures."""
        ...

    async def claim(self, one_time_keys: dict[str, dict[str, str]], timeout_ms: int) -> dict[str, Any]:
        """Other servers' users' one-time keys: one_time_keys, failures."""
        ...


class E2eKeys:
    def __init__(
        self,
        server_name: str,
        store: E2eKeyStore,
        accounts: AccountStore,
        device_lists: DeviceLists,
        remote: RemoteKeys | None = None,
    ) -> None:
        self._server_name = server_name
        self._store = store
        self._accounts = accounts
        self._device_lists = device_lists
        self._remote = remote
        # Every /sync reports these two per device; they change only on upload, claim and
        # device deletion, all of which pass through here and drop the entry.
        self._key_summaries: LruCache[tuple[str, str], tuple[dict[str, int], list[str]]] = LruCache(
            KEY_SUMMARY_CACHE_SIZE
        )
        # Bumped by every change, so a read that raced one does not cache what it read.
        self._key_generation = 0

    # Upload

    async def upload(self, user_id: str, device_id: str, body: dict[str, Any]) -> dict[str, int]:
        """Stores the device's keys; returns its one-time key counts."""
        device_keys = body.get("device_keys")
        one_time = _parse_keys(body.get("one_time_keys"), "one_time_keys")
        fallback = _parse_keys(body.get("fallback_keys"), "fallback_keys")
        if len({k.algorithm for k in fallback}) != len(fallback):
            raise invalid_param("fallback_keys may hold at most one key per algorithm")
        if device_keys is not None:
            await self._upload_device_keys(user_id, device_id, device_keys)
        if one_time:
            names = [(k.algorithm, k.key_id) for k in one_time]
            held = await self._store.get_one_time_keys(user_id, device_id, names)
            for key in one_time:
                old = held.get((key.algorithm, key.key_id))
                if old is not None and orjson.loads(old) != orjson.loads(key.key_json):
                    raise invalid_param(f"One-time key {key.algorithm}:{key.key_id} exists with another value")
            await self._store.add_one_time_keys(user_id, device_id, one_time)
        for key in fallback:
            await self._store.set_fallback_key(user_id, device_id, key)
        self._forget_key_summary(user_id, device_id)
        return await self.one_time_key_counts(user_id, device_id)

    async def _upload_device_keys(self, user_id: str, device_id: str, device_keys: Any) -> None:
        try:
            check_device_keys(device_keys, user_id, device_id)
        except BadKeySignature as e:
            raise MatrixError(400, "M_INVALID_SIGNATURE", f"device_keys: {e}") from None
        except InvalidKeyObject as e:
            raise bad_json(str(e)) from None
        existing = await self._store.get_device_keys(user_id, device_id)
        if existing == device_keys:
            return
        if existing is not None and identity_keys(existing) != identity_keys(device_keys):
            # A device's identity keys are what others verified; new ones need a new device.
            raise invalid_param("This device already has different identity keys; log in as a new device")
        await self._store.set_device_keys(user_id, device_id, device_keys)
        await self._device_lists.devices_changed(user_id, [device_id])

    async def one_time_key_counts(self, user_id: str, device_id: str) -> dict[str, int]:
        counts, _ = await self._key_summary(user_id, device_id)
        return dict(counts)

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        _, fallback_types = await self._key_summary(user_id, device_id)
        return list(fallback_types)

    async def _key_summary(self, user_id: str, device_id: str) -> tuple[dict[str, int], list[str]]:
        key = (user_id, device_id)
        summary = self._key_summaries.get(key)
        if summary is None:
            generation = self._key_generation
            counts = await self._store.count_one_time_keys(user_id, device_id)
            counts.setdefault(ALWAYS_COUNTED, 0)
            summary = (counts, await self._store.unused_fallback_key_types(user_id, device_id))
            if generation == self._key_generation:
                self._key_summaries.set(key, summary)
        return summary

    def _forget_key_summary(self, user_id: str, device_id: str) -> None:
        self._key_generation += 1
        self._key_summaries.pop((user_id, device_id))

    # Query

    async def query(self, requester_id: str, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("device_keys")
        if not isinstance(wanted, dict):
            raise invalid_param("device_keys must be an object of user IDs to device ID lists")
        timeout_ms = _timeout_ms(body)
        local: dict[str, list[str]] = {}
        remote: dict[str, list[str]] = {}
        for user_id, device_ids in wanted.items():
            if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
                raise invalid_param(f"device_keys.{user_id} must be a list of device IDs")
            if self._server_of(user_id) == self._server_name:
                local[user_id] = device_ids
            else:
                remote[user_id] = device_ids
        result = await self._query_local(local, requester_id)
        if self._remote is None:
            result["failures"] = {self._server_of(u): UNREACHABLE for u in remote}
        elif remote:
            fetched = await self._remote.query(remote, timeout_ms)
            for section in ("device_keys", "master_keys", "self_signing_keys", "failures"):
                result[section].update(fetched.get(section, {}))
        return result

    async def query_for_server(self, wanted: dict[str, list[str]]) -> dict[str, Any]:
        """POST /user/keys/query from another server: this server's users only, and of
        the signatures only those each user made of their own keys."""
        local = {u: d for u, d in wanted.items() if self._server_of(u) == self._server_name}
        result = await self._query_local(local, None)
        del result["failures"]
        return result

    async def _query_local(self, local: dict[str, list[str]], requester_id: str | None) -> dict[str, Any]:
        stored = await self._store.get_users_device_keys(local)
        cross_signing = await self._store.get_cross_signing_keys(local)
        signatures = await self._store.get_signatures(local)
        device_keys: dict[str, dict[str, KeyJson]] = {}
        for user_id, device_ids in local.items():
            devices = stored.get(user_id, {})
            if device_ids:
                devices = {d: k for d, k in devices.items() if d in device_ids}
            device_keys[user_id] = await self._with_display_names(user_id, devices)
        result: dict[str, Any] = {
            "device_keys": device_keys,
            "failures": {},
            "master_keys": {},
            "self_signing_keys": {},
        }
        for user_id, keys in cross_signing.items():
            if "master" in keys:
                result["master_keys"][user_id] = keys["master"]
            if "self_signing" in keys:
                result["self_signing_keys"][user_id] = keys["self_signing"]
            # A user-signing key is only visible to the user it belongs to.
            if "user_signing" in keys and user_id == requester_id:
                result["user_signing_keys"] = {user_id: keys["user_signing"]}
        _merge_signatures(result, signatures, requester_id)
        return result

    async def _with_display_names(self, user_id: str, devices: dict[str, KeyJson]) -> dict[str, KeyJson]:
        """The keys of devices that still exist, with their display names as `unsigned`."""
        names = {d.device_id: d.display_name for d in await self._accounts.list_devices(user_id)}
        kept: dict[str, KeyJson] = {}
        for device_id, keys in devices.items():
            if device_id not in names:
                continue
            if names[device_id] is not None:
                keys.setdefault("unsigned", {})["device_display_name"] = names[device_id]
            kept[device_id] = keys
        return kept

    async def user_devices(self, user_id: str) -> dict[str, Any]:
        """GET /user/devices/{userId} (user_devices.yaml) for a user of this server: the
        devices that have keys, the cross-signing keys, and the device-list position that
        m.device_list_update EDUs continue from."""
        local = {user_id: []}
        queried = await self._query_local(local, None)
        devices = []
        for device_id, keys in queried["device_keys"].get(user_id, {}).items():
            device: dict[str, Any] = {"device_id": device_id, "keys": keys}
            name = keys.get("unsigned", {}).get("device_display_name")
            if name is not None:
                device["device_display_name"] = name
            devices.append(device)
        response: dict[str, Any] = {
            "user_id": user_id,
            "stream_id": await self._device_lists.latest_position(user_id),
            "devices": devices,
        }
        for section, field in (("master_keys", "master_key"), ("self_signing_keys", "self_signing_key")):
            if user_id in queried[section]:
                response[field] = queried[section][user_id]
        return response

    async def device_update(self, user_id: str, device_id: str) -> dict[str, Any] | None:
        """What an m.device_list_update says of a device of this server: its display
        name and its keys with the signatures its user made, each if it has them; None
        once the device is gone."""
        device = await self._accounts.get_device(user_id, device_id)
        if device is None:
            return None
        update: dict[str, Any] = {}
        if device.display_name is not None:
            update["device_display_name"] = device.display_name
        keys = await self._store.get_device_keys(user_id, device_id)
        if keys is not None:
            signed = {"device_keys": {user_id: {device_id: keys}}}
            _merge_signatures(signed, await self._store.get_signatures([user_id]), None)
            update["keys"] = keys
        return update

    async def signing_key_update(self, user_id: str) -> dict[str, Any]:
        """The master and self-signing keys of a user of this server, as m.signing_key_update
        carries them: with the signatures the user made, each only if uploaded."""
        keys = (await self._store.get_cross_signing_keys([user_id])).get(user_id, {})
        result: dict[str, Any] = {"device_keys": {}}
        for usage, section in (("master", "master_keys"), ("self_signing", "self_signing_keys")):
            result[section] = {user_id: keys[usage]} if usage in keys else {}
        _merge_signatures(result, await self._store.get_signatures([user_id]), None)
        update: dict[str, Any] = {}
        for section, field in (("master_keys", "master_key"), ("self_signing_keys", "self_signing_key")):
            if user_id in result[section]:
                update[field] = result[section][user_id]
        return update

    # Claim

    async def claim(self, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("one_time_keys")
        if not isinstance(wanted, dict):
            raise invalid_param("one_time_keys must be an object of user IDs to devices to algorithms")
        timeout_ms = _timeout_ms(body)
        local: dict[str, dict[str, str]] = {}
        remote: dict[str, dict[str, str]] = {}
        for user_id, devices in wanted.items():
            if not isinstance(devices, dict) or not all(isinstance(a, str) for a in devices.values()):
                raise invalid_param(f"one_time_keys.{user_id} must map device IDs to algorithms")
            if self._server_of(user_id) == self._server_name:
                local[user_id] = devices
            else:
                remote[user_id] = devices
        claimed = await self.claim_local(local)
        if self._remote is None:
            return {"one_time_keys": claimed, "failures": {self._server_of(u): UNREACHABLE for u in remote}}
        if not remote:
            return {"one_time_keys": claimed, "failures": {}}
        fetched = await self._remote.claim(remote, timeout_ms)
        claimed.update(fetched.get("one_time_keys", {}))
        return {"one_time_keys": claimed, "failures": fetched.get("failures", {})}

    async def claim_local(self, wanted: dict[str, dict[str, str]]) -> dict[str, dict[str, dict[str, Any]]]:
        """One key per (user, device, algorithm) of this server's users; others are skipped."""
        claimed: dict[str, dict[str, dict[str, Any]]] = {}
        for user_id, devices in wanted.items():
            if self._server_of(user_id) != self._server_name:
                continue
            for device_id, algorithm in devices.items():
                key = await self._store.claim_one_time_key(user_id, device_id, algorithm)
                if key is None:
                    key = await self._store.claim_fallback_key(user_id, device_id, algorithm)
                self._forget_key_summary(user_id, device_id)
                if key is not None:
                    key_id, key_json = key
                    claimed.setdefault(user_id, {})[device_id] = {f"{algorithm}:{key_id}": key_json}
        return claimed

    # Devices going away

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        for device_id in device_ids:
            self._forget_key_summary(user_id, device_id)
        await self._store.delete_devices(user_id, device_ids)
        await self._device_lists.devices_changed(user_id, device_ids, deleted=True)

    async def device_changed(self, user_id: str, device_ids: list[str]) -> None:
        """A device was created or renamed: other servers list it, and its display name
        shows in key queries."""
        await self._device_lists.devices_changed(user_id, device_ids)

    def _server_of(self, user_id: str) -> str:
        try:
            return parse_user_id(user_id).server_name
        except InvalidIdentifier:
            raise invalid_param(f"{user_id!r} is not a valid user ID") from None


def _parse_keys(value: Any, field: str) -> list[OneTimeKey]:
    if value is None:
        return []
    try:
        parsed = parse_one_time_keys(value, field)
    except InvalidKeyObject as e:
        raise bad_json(str(e)) from None
    return [OneTimeKey(algorithm, key_id, orjson.dumps(key).decode()) for algorithm, key_id, key in parsed]


def _timeout_ms(body: dict[str, Any]) -> int:
    timeout = body.get("timeout", DEFAULT_REMOTE_TIMEOUT_MS)
    if not isinstance(timeout, int) or isinstance(timeout, bool):
        raise invalid_param("timeout must be an integer")
    return max(0, timeout)


def _merge_signatures(
    result: dict[str, Any], signatures: list[StoredSignature], requester_id: str | None
) -> None:
    """Adds uploaded signatures to the keys they sign, each only where the requester may
    see it: a signature by another user's user-signing key is that user's alone."""
    for sig in signatures:
        if sig.signer_user_id != sig.target_user_id and sig.signer_user_id != requester_id:
            continue
        target = result["device_keys"].get(sig.target_user_id, {}).get(sig.target_key_id)
        if target is None:
            for section in ("master_keys", "self_signing_keys", "user_signing_keys"):
                key = result.get(section, {}).get(sig.target_user_id)
                if key is not None and sig.target_key_id in _public_keys(key):
                    target = key
                    break
        if target is None:
            continue
        target.setdefault("signatures", {}).setdefault(sig.signer_user_id, {})[sig.signer_key_id] = sig.signature


def _public_keys(key: KeyJson) -> list[str]:
    keys = key.get("keys")
    return list(keys.values()) if isinstance(keys, dict) else []
