"""Keys of users on other servers: POST /user/keys/query and /user/keys/claim
(server-server user_keys.yaml), one request per server, all servers at once.

A server that fails to answer in time is reported in `failures` (keys.yaml: "If any remote
homeservers could not be reached, they are recorded here"). What a server sends back is
kept only for its own users and the devices asked for, so no server can speak for another.

Users this server shares a room with have their device lists kept (`RemoteDeviceLists`):
those are answered from what is kept, or asked with GET /user/devices so it can be kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from veche.protocol.identifiers import parse_user_id
from veche.services.federation.client import FederationClient, FederationError
from veche.services.federation.remote_devices import RemoteDeviceLists
from veche.services.federation.remote_errors import failure_status

KEYS_QUERY = "/_matrix/federation/v1/user/keys/query"
KEYS_CLAIM = "/_matrix/federation/v1/user/keys/claim"
CROSS_SIGNING_SECTIONS = ("master_keys", "self_signing_keys")
# However short a client's timeout, a peer gets this long to answer.
MIN_TIMEOUT_MS = 1000

W = TypeVar("W")


class FederatedKeys:
    def __init__(self, client: FederationClient, devices: RemoteDeviceLists) -> None:
        self._client = client
        self._devices = devices

    async def query(self, device_keys: Mapping[str, list[str]], timeout_ms: int) -> dict[str, Any]:
        """A /keys/query answer (device_keys, master_keys, self_signing_keys, failures) for
        users of other servers; an empty device list asks for all of a user's devices."""
        result: dict[str, Any] = {"device_keys": {}, "master_keys": {}, "self_signing_keys": {}}
        timeout = max(timeout_ms, MIN_TIMEOUT_MS) / 1000
        kept = await self._devices.cached(list(device_keys))
        for user_id, answer in kept.items():
            _merge_devices(result, user_id, device_keys[user_id], answer)

        async def ask(server: str, wanted: dict[str, list[str]]) -> None:
            tracked = [user_id for user_id in wanted if await self._devices.is_tracked(user_id)]
            answers = await asyncio.gather(*(self._devices.fetch(u, timeout) for u in tracked))
            for user_id, answer in zip(tracked, answers, strict=True):
                _merge_devices(result, user_id, wanted[user_id], answer)
            others = {u: d for u, d in wanted.items() if u not in tracked}
            if others:
                body = await self._client.post_json(
                    server, KEYS_QUERY, {"device_keys": others}, timeout=timeout
                )
                _merge_query(result, others, body)

        result["failures"] = await _fan_out({u: d for u, d in device_keys.items() if u not in kept}, ask)
        return result

    async def claim(self, one_time_keys: Mapping[str, dict[str, str]], timeout_ms: int) -> dict[str, Any]:
        """A /keys/claim answer (one_time_keys, failures) for users of other servers."""
        claimed: dict[str, Any] = {}
        timeout = max(timeout_ms, MIN_TIMEOUT_MS) / 1000

        async def ask(server: str, wanted: dict[str, dict[str, str]]) -> None:
            body = await self._client.post_json(
                server, KEYS_CLAIM, {"one_time_keys": wanted}, timeout=timeout
            )
            answered = body.get("one_time_keys") if isinstance(body, dict) else None
            if not isinstance(answered, dict):
                return
            for user_id, devices in wanted.items():
                keys = answered.get(user_id)
                if not isinstance(keys, dict):
                    continue
                kept = {d: k for d, k in keys.items() if d in devices and isinstance(k, dict)}
                if kept:
                    claimed[user_id] = kept

        failures = await _fan_out(one_time_keys, ask)
        return {"one_time_keys": claimed, "failures": failures}


async def _fan_out(
    by_user: Mapping[str, W], ask: Callable[[str, dict[str, W]], Awaitable[None]]
) -> dict[str, Any]:
    """Calls `ask` once per server with its users' part of the request; returns the
    failures of the servers that did not answer."""
    by_server: dict[str, dict[str, W]] = {}
    for user_id, wanted in by_user.items():
        by_server.setdefault(parse_user_id(user_id).server_name, {})[user_id] = wanted
    servers = list(by_server)
    outcomes = await asyncio.gather(
        *(ask(server, by_server[server]) for server in servers), return_exceptions=True
    )
    failures: dict[str, Any] = {}
    for server, outcome in zip(servers, outcomes, strict=True):
        if isinstance(outcome, FederationError):
            failures[server] = failure_status(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
    return failures


def _merge_devices(result: dict[str, Any], user_id: str, device_ids: list[str], answer: dict[str, Any]) -> None:
    """Adds a (checked) /user/devices answer as /keys/query shows it."""
    devices: dict[str, Any] = {}
    for device in answer["devices"]:
        if device_ids and device["device_id"] not in device_ids:
            continue
        keys = dict(device["keys"])
        name = device.get("device_display_name")
        unsigned = keys.get("unsigned")
        if isinstance(name, str):
            keys["unsigned"] = {**(unsigned if isinstance(unsigned, dict) else {}), "device_display_name": name}
        devices[device["device_id"]] = keys
    result["device_keys"][user_id] = devices
    for field, section in (("master_key", "master_keys"), ("self_signing_key", "self_signing_keys")):
        if field in answer:
            result[section][user_id] = answer[field]


def _merge_query(result: dict[str, Any], wanted: dict[str, list[str]], body: Any) -> None:
    if not isinstance(body, dict):
        return
    devices_by_user = body.get("device_keys")
    if isinstance(devices_by_user, dict):
        for user_id, device_ids in wanted.items():
            devices = devices_by_user.get(user_id)
            if not isinstance(devices, dict):
                continue
            result["device_keys"][user_id] = {
                device_id: keys
                for device_id, keys in devices.items()
                if (not device_ids or device_id in device_ids)
                and isinstance(keys, dict)
                and keys.get("user_id") == user_id
                and keys.get("device_id") == device_id
            }
    for section in CROSS_SIGNING_SECTIONS:
        keys_by_user = body.get(section)
        if not isinstance(keys_by_user, dict):
            continue
        for user_id in wanted:
            key = keys_by_user.get(user_id)
            if isinstance(key, dict) and key.get("user_id") == user_id:
                result[section][user_id] = key
