"""Device keys, one-time and fallback keys: upload, query and claim (keys.yaml).

Only local users' keys are served. Keys of users on other servers need federation, which
this server does not speak yet: their servers are reported in `failures`, as the spec
does for servers that cannot be reached.
"""

from __future__ import annotations

from typing import Any

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
from veche.storage.e2e_keys import E2eKeyStore, KeyJson, OneTimeKey, StoredSignature

# Clients (the Rust crypto SDK among them) read a missing count as "unknown" rather than
# zero; the algorithm they use is always listed, as Synapse does.
ALWAYS_COUNTED = "signed_curve25519"
UNREACHABLE = {"status": 503, "message": "Federation is not available on this server"}


class E2eKeys:
    def __init__(
        self, server_name: str, store: E2eKeyStore, accounts: AccountStore, device_lists: DeviceLists
    ) -> None:
        self._server_name = server_name
        self._store = store
        self._accounts = accounts
        self._device_lists = device_lists

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
        await self._device_lists.keys_changed(user_id)

    async def one_time_key_counts(self, user_id: str, device_id: str) -> dict[str, int]:
        counts = await self._store.count_one_time_keys(user_id, device_id)
        counts.setdefault(ALWAYS_COUNTED, 0)
        return counts

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        return await self._store.unused_fallback_key_types(user_id, device_id)

    # Query

    async def query(self, requester_id: str, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("device_keys")
        if not isinstance(wanted, dict):
            raise invalid_param("device_keys must be an object of user IDs to device ID lists")
        _check_timeout(body)
        local: dict[str, list[str]] = {}
        failures: dict[str, Any] = {}
        for user_id, device_ids in wanted.items():
            if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
                raise invalid_param(f"device_keys.{user_id} must be a list of device IDs")
            server = self._server_of(user_id)
            if server == self._server_name:
                local[user_id] = device_ids
            else:
                failures[server] = UNREACHABLE
        stored = await self._store.get_users_device_keys(local)
        cross_signing = await self._store.get_cross_signing_keys(local)
        signatures = await self._store.get_signatures(local)
        device_keys: dict[str, dict[str, KeyJson]] = {}
        for user_id, device_ids in local.items():
            devices = stored.get(user_id, {})
            if device_ids:
                devices = {d: k for d, k in devices.items() if d in device_ids}
            names = {d.device_id: d.display_name for d in await self._accounts.list_devices(user_id)}
            device_keys[user_id] = {}
            for device_id, keys in devices.items():
                if device_id not in names:
                    continue
                if names[device_id] is not None:
                    keys.setdefault("unsigned", {})["device_display_name"] = names[device_id]
                device_keys[user_id][device_id] = keys
        result: dict[str, Any] = {
            "device_keys": device_keys,
            "failures": failures,
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

    # Claim

    async def claim(self, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("one_time_keys")
        if not isinstance(wanted, dict):
            raise invalid_param("one_time_keys must be an object of user IDs to devices to algorithms")
        _check_timeout(body)
        claimed: dict[str, dict[str, dict[str, Any]]] = {}
        failures: dict[str, Any] = {}
        for user_id, devices in wanted.items():
            if not isinstance(devices, dict) or not all(isinstance(a, str) for a in devices.values()):
                raise invalid_param(f"one_time_keys.{user_id} must map device IDs to algorithms")
            server = self._server_of(user_id)
            if server != self._server_name:
                failures[server] = UNREACHABLE
                continue
            for device_id, algorithm in devices.items():
                key = await self._store.claim_one_time_key(user_id, device_id, algorithm)
                if key is None:
                    key = await self._store.claim_fallback_key(user_id, device_id, algorithm)
                if key is not None:
                    key_id, key_json = key
                    claimed.setdefault(user_id, {})[device_id] = {f"{algorithm}:{key_id}": key_json}
        return {"one_time_keys": claimed, "failures": failures}

    # Devices going away

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        if await self._store.delete_devices(user_id, device_ids):
            await self._device_lists.keys_changed(user_id)

    async def device_changed(self, user_id: str, device_ids: list[str]) -> None:
        """A device was renamed or logged in again: its display name shows in key queries."""
        for device_id in device_ids:
            if await self._store.get_device_keys(user_id, device_id) is not None:
                await self._device_lists.keys_changed(user_id)
                return

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


def _check_timeout(body: dict[str, Any]) -> None:
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)):
        raise invalid_param("timeout must be an integer")


def _merge_signatures(result: dict[str, Any], signatures: list[StoredSignature], requester_id: str) -> None:
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
