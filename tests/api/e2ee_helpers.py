"""What the end-to-end encryption API tests share: a fake device that signs its keys the
way a client does, cross-signing key sets, and small HTTP helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from veche.protocol.signing import signed_bytes, unpadded_b64encode

V3 = "/_matrix/client/v3"


class Ed25519Key:
    """An ed25519 key pair named like a client names it: `ed25519:<device ID>` for a
    device, `ed25519:<public key>` for a cross-signing key."""

    def __init__(self, name: str | None = None) -> None:
        self._key = nacl.signing.SigningKey.generate()
        self.public = unpadded_b64encode(bytes(self._key.verify_key))
        self.key_id = f"ed25519:{name or self.public}"

    def sign(self, obj: dict[str, Any], user_id: str) -> dict[str, Any]:
        signature = self._key.sign(signed_bytes(obj)).signature
        obj.setdefault("signatures", {}).setdefault(user_id, {})[self.key_id] = unpadded_b64encode(signature)
        return obj


@dataclass
class FakeDevice:
    """The keys a client device would generate, signed by its ed25519 key."""

    user_id: str
    device_id: str
    key: Ed25519Key = field(init=False)

    def __post_init__(self) -> None:
        self.key = Ed25519Key(self.device_id)

    def device_keys(self, curve25519: str = "curve+key") -> dict[str, Any]:
        keys = {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"ed25519:{self.device_id}": self.key.public, f"curve25519:{self.device_id}": curve25519},
        }
        return self.key.sign(keys, self.user_id)

    def one_time_keys(self, count: int, prefix: str = "AAAA", fallback: bool = False) -> dict[str, Any]:
        made = {}
        for i in range(count):
            key: dict[str, Any] = {"key": f"otk{prefix}{i}"}
            if fallback:
                key["fallback"] = True
            made[f"signed_curve25519:{prefix}{i}"] = self.key.sign(key, self.user_id)
        return made


@dataclass
class CrossSigningSet:
    user_id: str
    master: Ed25519Key = field(default_factory=Ed25519Key)
    self_signing: Ed25519Key = field(default_factory=Ed25519Key)
    user_signing: Ed25519Key = field(default_factory=Ed25519Key)

    def key_json(self, usage: str) -> dict[str, Any]:
        key = getattr(self, usage)
        obj = {"user_id": self.user_id, "usage": [usage], "keys": {key.key_id: key.public}}
        if usage != "master":
            self.master.sign(obj, self.user_id)
        return obj

    def upload_body(self) -> dict[str, Any]:
        return {
            "master_key": self.key_json("master"),
            "self_signing_key": self.key_json("self_signing"),
            "user_signing_key": self.key_json("user_signing"),
        }


async def post(http, user, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    async with http.post(f"{V3}{path}", json=body, headers=user.headers) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def request(http, method: str, user, path: str, body: Any = None, status: int = 200, **params) -> Any:
    async with http.request(
        method, f"{V3}{path}", json=body, headers=user.headers, params=params or None
    ) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def sync(http, user, **params) -> dict[str, Any]:
    query = {k: (json.dumps(v) if isinstance(v, dict) else str(v)) for k, v in params.items()}
    async with http.get(f"{V3}/sync", params=query, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def create_room(http, user, **body) -> str:
    return (await post(http, user, "/createRoom", body))["room_id"]


async def join(http, user, room_id: str) -> None:
    await post(http, user, f"/rooms/{room_id}/join", {})


async def leave(http, user, room_id: str) -> None:
    await post(http, user, f"/rooms/{room_id}/leave", {})


async def upload_device_keys(http, user, device: FakeDevice) -> dict[str, Any]:
    return await post(http, user, "/keys/upload", {"device_keys": device.device_keys()})
