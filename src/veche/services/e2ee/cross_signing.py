"""Cross-signing keys and signatures (cross_signing.yaml; modules/end_to_end_encryption.md
"Cross-signing").

What may sign what:
- the master key signs its user's self-signing and user-signing keys (checked on upload);
- the self-signing key signs its user's devices;
- a user's devices sign the user's master key;
- the user-signing key signs other users' master keys (visible only to the signer).
"""

from __future__ import annotations

from typing import Any

from veche.errors import MatrixError, forbidden, invalid_param
from veche.protocol.e2e_keys import (
    BadKeySignature,
    CrossSigningKey,
    InvalidKeyObject,
    parse_cross_signing_key,
    same_signed_content,
    verify_key_signature,
)
from veche.services.e2ee.device_lists import DeviceLists
from veche.services.uia import PASSWORD, UserInteractiveAuth
from veche.storage.accounts import AccountStore, TokenInfo
from veche.storage.e2e_keys import E2eKeyStore, KeyJson, StoredSignature

UPLOAD_ACTION = "POST /keys/device_signing/upload"
FIELDS = {"master": "master_key", "self_signing": "self_signing_key", "user_signing": "user_signing_key"}


class CrossSigning:
    def __init__(
        self,
        store: E2eKeyStore,
        accounts: AccountStore,
        device_lists: DeviceLists,
        uia: UserInteractiveAuth,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._device_lists = device_lists
        self._uia = uia

    async def upload_keys(self, requester: TokenInfo, body: dict[str, Any]) -> None:
        user_id = requester.user_id
        uploaded = {
            usage: _parse(body[field], user_id, usage)
            for usage, field in FIELDS.items()
            if body.get(field) is not None
        }
        existing = (await self._store.get_cross_signing_keys([user_id])).get(user_id, {})
        # cross_signing.yaml (v1.11): no UIA for a first master key, nor for re-uploading
        # exactly the keys already held; anything else replaces keys and needs it.
        first_upload = "master" not in existing
        nothing_new = all(existing.get(usage) == key.key for usage, key in uploaded.items())
        if not first_upload and not nothing_new:
            await self._uia.check(body, requester, [[PASSWORD]], UPLOAD_ACTION)
        if not uploaded or (nothing_new and not first_upload):
            return
        master = uploaded.get("master")
        if master is None:
            if "master" not in existing:
                raise MatrixError(400, "M_MISSING_PARAM", "No master signing key is available")
            master = _parse(existing["master"], user_id, "master")
        for usage in ("self_signing", "user_signing"):
            key = uploaded.get(usage)
            if key is None:
                continue
            try:
                verify_key_signature(key.key, user_id, master.key_id, master.public_key)
            except InvalidKeyObject as e:
                raise MatrixError(400, "M_INVALID_SIGNATURE", f"{FIELDS[usage]}: {e}") from None
        device_ids = {d.device_id for d in await self._accounts.list_devices(user_id)}
        if any(key.public_key in device_ids for key in uploaded.values()):
            raise forbidden("Key ID in use")
        await self._store.set_cross_signing_keys(
            user_id, {usage: (key.public_key, key.key) for usage, key in uploaded.items()}
        )
        if "master" in uploaded or "self_signing" in uploaded:
            await self._device_lists.signing_keys_changed(user_id)
        else:
            # A user-signing key is the user's own business; other servers never see it.
            await self._device_lists.keys_changed(user_id)

    async def upload_signatures(self, requester: TokenInfo, body: dict[str, Any]) -> dict[str, Any]:
        """Stores every valid signature; returns `failures` for the rest."""
        user_id = requester.user_id
        targets = [t for t in body if isinstance(t, str)]
        cross_signing = await self._store.get_cross_signing_keys({user_id, *targets})
        mine = cross_signing.get(user_id, {})
        own_devices = (await self._store.get_users_device_keys([user_id])).get(user_id, {})
        failures: dict[str, dict[str, Any]] = {}
        accepted: list[StoredSignature] = []
        for target_user, objects in body.items():
            if not isinstance(objects, dict):
                raise invalid_param(f"{target_user} must map key IDs to signed objects")
            for key_id, signed in objects.items():
                try:
                    if not isinstance(signed, dict):
                        raise InvalidKeyObject("the signed object must be an object")
                    if target_user == user_id:
                        found = _own_key_signatures(user_id, key_id, signed, mine, own_devices)
                    else:
                        found = _other_master_signature(
                            user_id, target_user, key_id, signed, mine, cross_signing.get(target_user, {})
                        )
                except BadKeySignature as e:
                    failures.setdefault(target_user, {})[key_id] = _failure("M_INVALID_SIGNATURE", e)
                except _UnknownKey as e:
                    failures.setdefault(target_user, {})[key_id] = _failure("M_NOT_FOUND", e)
                except InvalidKeyObject as e:
                    failures.setdefault(target_user, {})[key_id] = _failure("M_INVALID_PARAM", e)
                else:
                    accepted.extend(found)
        await self._store.add_signatures(accepted)
        await self._announce_signatures(user_id, accepted, set(own_devices))
        return {"failures": failures}

    async def _announce_signatures(self, user_id: str, accepted: list[StoredSignature], own_devices: set[str]) -> None:
        """Signed devices of the user's own are device changes and a signed master key a
        signing-key change, both of which other servers hear of; a signature on another
        user's master key only concerns who may see it here."""
        own = [s for s in accepted if s.target_user_id == user_id]
        signed_devices = sorted({s.target_key_id for s in own if s.target_key_id in own_devices})
        if signed_devices:
            await self._device_lists.devices_changed(user_id, signed_devices)
        if any(s.target_key_id not in own_devices for s in own):
            await self._device_lists.signing_keys_changed(user_id)
        for target_user in sorted({s.target_user_id for s in accepted} - {user_id}):
            await self._device_lists.keys_changed(target_user)


class _UnknownKey(InvalidKeyObject):
    pass


def _failure(errcode: str, error: Exception) -> dict[str, str]:
    return {"errcode": errcode, "error": str(error)}


def _parse(key: Any, user_id: str, usage: str) -> CrossSigningKey:
    try:
        return parse_cross_signing_key(key, user_id, usage)
    except InvalidKeyObject as e:
        raise invalid_param(str(e)) from None


def _own_key_signatures(
    user_id: str, key_id: str, signed: KeyJson, mine: dict[str, KeyJson], devices: dict[str, KeyJson]
) -> list[StoredSignature]:
    """Signatures on one of the requester's own keys: a device (by the self-signing key)
    or the master key (by the requester's devices)."""
    master = _public_key(mine.get("master"))
    if key_id in devices:
        if not same_signed_content(signed, devices[key_id]):
            raise InvalidKeyObject("The signed object does not match the device's keys")
        self_signing = _public_key(mine.get("self_signing"))
        if self_signing is None:
            raise _UnknownKey("No self-signing key is uploaded")
        signer_key_id = f"ed25519:{self_signing}"
        verify_key_signature(signed, user_id, signer_key_id, self_signing)
        return [_signature(user_id, signer_key_id, user_id, key_id, signed)]
    if master is not None and key_id == master:
        if not same_signed_content(signed, mine["master"]):
            raise InvalidKeyObject("The signed object does not match the master key")
        found = []
        for signer_key_id in signed.get("signatures", {}).get(user_id, {}):
            device_id = signer_key_id.partition(":")[2]
            device = devices.get(device_id)
            if device is None or signer_key_id == f"ed25519:{master}":
                continue
            device_key = device.get("keys", {}).get(signer_key_id)
            if not isinstance(device_key, str):
                continue
            verify_key_signature(signed, user_id, signer_key_id, device_key)
            found.append(_signature(user_id, signer_key_id, user_id, key_id, signed))
        if not found:
            raise BadKeySignature("No signature by one of the user's devices")
        return found
    raise _UnknownKey(f"Unknown key {key_id}")


def _other_master_signature(
    user_id: str,
    target_user: str,
    key_id: str,
    signed: KeyJson,
    mine: dict[str, KeyJson],
    theirs: dict[str, KeyJson],
) -> list[StoredSignature]:
    """The requester's user-signing key signing another user's master key."""
    master = _public_key(theirs.get("master"))
    if master is None or key_id != master:
        raise _UnknownKey(f"{key_id} is not {target_user}'s master key")
    if not same_signed_content(signed, theirs["master"]):
        raise InvalidKeyObject("The signed object does not match the master key")
    user_signing = _public_key(mine.get("user_signing"))
    if user_signing is None:
        raise _UnknownKey("No user-signing key is uploaded")
    signer_key_id = f"ed25519:{user_signing}"
    verify_key_signature(signed, user_id, signer_key_id, user_signing)
    return [_signature(user_id, signer_key_id, target_user, key_id, signed)]


def _public_key(key: KeyJson | None) -> str | None:
    if key is None:
        return None
    keys = key.get("keys") or {}
    return next(iter(keys.values()), None)


def _signature(
    signer: str, signer_key_id: str, target_user: str, target_key_id: str, signed: KeyJson
) -> StoredSignature:
    signature = signed["signatures"][signer][signer_key_id]
    return StoredSignature(signer, signer_key_id, target_user, target_key_id, signature)
