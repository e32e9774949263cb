"""Pure rules for end-to-end encryption keys (client-server-api
modules/end_to_end_encryption.md and the schemas in data/api/client-server/definitions/).

The server never sees private keys; what it checks is that uploaded public keys are well
formed and signed by whom they claim, and which of two backed-up session keys to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from veche.protocol.signing import InvalidKeyError, SignatureError, decode_verify_key_base64, verify_signed_json

ED25519 = "ed25519"
CROSS_SIGNING_USAGES = ("master", "self_signing", "user_signing")


class InvalidKeyObject(ValueError):
    """A key object is malformed or not signed as required; str() says why."""


class BadKeySignature(InvalidKeyObject):
    """A signature the rules require is missing or does not verify."""


def check_device_keys(keys: Any, user_id: str, device_id: str) -> str:
    """Checks uploaded DeviceKeys (definitions/device_keys.yaml) for this device and that
    the device's own ed25519 key signed them ("Uploading keys"); returns that key."""
    if not isinstance(keys, dict):
        raise InvalidKeyObject("device_keys must be an object")
    if keys.get("user_id") != user_id:
        raise InvalidKeyObject("device_keys.user_id does not match the logged-in user")
    if keys.get("device_id") != device_id:
        raise InvalidKeyObject("device_keys.device_id does not match the logged-in device")
    algorithms = keys.get("algorithms")
    if not isinstance(algorithms, list) or not all(isinstance(a, str) for a in algorithms):
        raise InvalidKeyObject("device_keys.algorithms must be a list of strings")
    key_map = keys.get("keys")
    if not isinstance(key_map, dict) or not all(isinstance(v, str) for v in key_map.values()):
        raise InvalidKeyObject("device_keys.keys must map key IDs to strings")
    if not isinstance(keys.get("signatures"), dict):
        raise InvalidKeyObject("device_keys.signatures must be an object")
    key_id = f"{ED25519}:{device_id}"
    public_key = key_map.get(key_id)
    if public_key is None:
        raise InvalidKeyObject(f"device_keys.keys has no {key_id} key")
    verify_key_signature(keys, user_id, key_id, public_key)
    return public_key


def identity_keys(keys: dict[str, Any]) -> dict[str, Any]:
    """The part of DeviceKeys that identifies the device: its keys and algorithms."""
    return {"keys": keys.get("keys"), "algorithms": keys.get("algorithms")}


def parse_one_time_keys(keys: Any, field: str) -> list[tuple[str, str, Any]]:
    """`<algorithm>:<key_id>` → key (definitions/one_time_keys.yaml) as (algorithm, key ID, key)."""
    if not isinstance(keys, dict):
        raise InvalidKeyObject(f"{field} must be an object")
    parsed = []
    for name, key in keys.items():
        algorithm, sep, key_id = name.partition(":")
        if not sep or not algorithm or not key_id:
            raise InvalidKeyObject(f"{field} key names must be <algorithm>:<key_id>, not {name!r}")
        if not isinstance(key, (str, dict)):
            raise InvalidKeyObject(f"{field}.{name} must be a string or an object")
        parsed.append((algorithm, key_id, key))
    return parsed


@dataclass(frozen=True, slots=True)
class CrossSigningKey:
    usage: tuple[str, ...]
    public_key: str
    key: dict[str, Any]

    @property
    def key_id(self) -> str:
        return f"{ED25519}:{self.public_key}"


def parse_cross_signing_key(key: Any, user_id: str, usage: str) -> CrossSigningKey:
    """A CrossSigningKey (definitions/cross_signing_key.yaml) of `user_id` meant for `usage`."""
    if not isinstance(key, dict):
        raise InvalidKeyObject(f"the {usage} key must be an object")
    if key.get("user_id") != user_id:
        raise InvalidKeyObject(f"the {usage} key's user_id is not {user_id}")
    usages = key.get("usage")
    if not isinstance(usages, list) or usage not in usages or not all(u in CROSS_SIGNING_USAGES for u in usages):
        raise InvalidKeyObject(f"the {usage} key's usage must include {usage!r}")
    key_map = key.get("keys")
    # "The object must have exactly one property".
    if not isinstance(key_map, dict) or len(key_map) != 1:
        raise InvalidKeyObject(f"the {usage} key must have exactly one public key")
    ((key_id, public_key),) = key_map.items()
    if key_id != f"{ED25519}:{public_key}" or not isinstance(public_key, str):
        raise InvalidKeyObject(f"the {usage} key must be named ed25519:<its public key>")
    _decode(key_id, public_key)
    signatures = key.get("signatures", {})
    if not isinstance(signatures, dict):
        raise InvalidKeyObject(f"the {usage} key's signatures must be an object")
    return CrossSigningKey(tuple(usages), public_key, key)


def verify_key_signature(obj: dict[str, Any], signer: str, key_id: str, public_key: str) -> None:
    """Raises BadKeySignature unless `obj` carries `signer`'s valid signature by the ed25519
    key `key_id` whose public half is `public_key`."""
    verify_key = _decode(key_id, public_key)
    try:
        verify_signed_json(obj, signer, key_id, verify_key)
    except SignatureError as e:
        raise BadKeySignature(str(e)) from None


def same_signed_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two key objects are the same once signatures and unsigned are set aside."""
    return _unsigned_part(a) == _unsigned_part(b)


def _unsigned_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def _decode(key_id: str, public_key: str) -> Any:
    try:
        return decode_verify_key_base64(key_id.split(":", 1)[0] + ":x", public_key)
    except InvalidKeyError as e:
        raise InvalidKeyObject(f"{key_id}: {e}") from None


@dataclass(frozen=True, slots=True)
class BackupKeyMeta:
    is_verified: bool
    first_message_index: int
    forwarded_count: int


def backup_key_replaces(held: BackupKeyMeta, new: BackupKeyMeta) -> bool:
    """Whether an uploaded session key replaces the one a backup holds ("Server-side key
    backups"): a verified key beats an unverified one, then the lower first message index
    wins, then the lower forwarded count; on a full tie the held key stays."""
    if held.is_verified != new.is_verified:
        return new.is_verified
    if held.first_message_index != new.first_message_index:
        return new.first_message_index < held.first_message_index
    return new.forwarded_count < held.forwarded_count
