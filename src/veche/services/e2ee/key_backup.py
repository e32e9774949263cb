"""Server-side key backups (key_backup.yaml; modules/end_to_end_encryption.md
"Server-side key backups").

Keys may only be written to the current (newest live) version; reading and deleting work
on any live version. Versions are opaque strings to clients; here they count up per user.
"""

from __future__ import annotations

from typing import Any

from veche.errors import MatrixError, bad_json, invalid_param, missing_param, not_found
from veche.protocol.e2e_keys import BackupKeyMeta, backup_key_replaces
from veche.storage.key_backup import BackupVersion, KeyBackupStore, RoomKey, StoredRoomKey

UNKNOWN_VERSION = "Unknown backup version"


class KeyBackups:
    def __init__(self, store: KeyBackupStore) -> None:
        self._store = store

    # Versions

    async def create_version(self, user_id: str, body: dict[str, Any]) -> str:
        algorithm, auth_data = _version_fields(body)
        return str(await self._store.create_version(user_id, algorithm, auth_data))

    async def get_version(self, user_id: str, version: str | None) -> dict[str, Any]:
        found = await self._store.get_version(user_id, None if version is None else _parse_version(version))
        if found is None:
            raise not_found("No current backup version" if version is None else UNKNOWN_VERSION)
        return _version_json(found)

    async def update_version(self, user_id: str, version: str, body: dict[str, Any]) -> None:
        number = _parse_version(version)
        algorithm, auth_data = _version_fields(body)
        if "version" in body and body["version"] != version:
            raise invalid_param("The version in the body does not match the one in the path")
        found = await self._store.get_version(user_id, number)
        if found is None:
            raise not_found(UNKNOWN_VERSION)
        if algorithm != found.algorithm:
            raise invalid_param("The algorithm of a backup cannot change")
        if not await self._store.update_auth_data(user_id, number, auth_data):
            raise not_found(UNKNOWN_VERSION)

    async def delete_version(self, user_id: str, version: str) -> None:
        number = _parse_version(version)
        # Deleting a version deleted before succeeds (key_backup.yaml).
        if await self._store.version_status(user_id, number) is None:
            raise not_found(UNKNOWN_VERSION)
        await self._store.delete_version(user_id, number)

    # Keys

    async def put_keys(self, user_id: str, version: str, keys: list[StoredRoomKey]) -> dict[str, Any]:
        number = _parse_version(version)
        current = await self._store.current_version(user_id)
        if current is None:
            raise not_found(UNKNOWN_VERSION)
        if number != current:
            raise _wrong_version(current)
        written = await self._store.put_keys(user_id, number, keys, _replaces)
        if written is None:
            # Deleted or superseded between the check and the write.
            current = await self._store.current_version(user_id)
            if current is None:
                raise not_found(UNKNOWN_VERSION)
            raise _wrong_version(current)
        count, etag = written
        return {"count": count, "etag": str(etag)}

    async def get_keys(
        self, user_id: str, version: str, room_id: str | None = None, session_id: str | None = None
    ) -> list[StoredRoomKey]:
        number = _parse_version(version)
        if await self._store.version_status(user_id, number) != "live":
            raise not_found(UNKNOWN_VERSION)
        return await self._store.get_keys(user_id, number, room_id, session_id)

    async def delete_keys(
        self, user_id: str, version: str, room_id: str | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        written = await self._store.delete_keys(user_id, _parse_version(version), room_id, session_id)
        if written is None:
            raise not_found(UNKNOWN_VERSION)
        count, etag = written
        return {"count": count, "etag": str(etag)}


def parse_room_key(value: Any, where: str) -> RoomKey:
    """A KeyBackupData object (definitions/key_backup_data.yaml)."""
    if not isinstance(value, dict):
        raise bad_json(f"{where} must be an object")
    numbers = {}
    for field in ("first_message_index", "forwarded_count"):
        number = value.get(field)
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise bad_json(f"{where}.{field} must be a non-negative integer")
        numbers[field] = number
    if not isinstance(value.get("is_verified"), bool):
        raise bad_json(f"{where}.is_verified must be a boolean")
    if not isinstance(value.get("session_data"), dict):
        raise bad_json(f"{where}.session_data must be an object")
    return RoomKey(
        numbers["first_message_index"], numbers["forwarded_count"], value["is_verified"], value["session_data"]
    )


def _replaces(held: RoomKey, new: RoomKey) -> bool:
    return backup_key_replaces(_meta(held), _meta(new))


def _meta(key: RoomKey) -> BackupKeyMeta:
    return BackupKeyMeta(key.is_verified, key.first_message_index, key.forwarded_count)


def _version_fields(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    algorithm = body.get("algorithm")
    auth_data = body.get("auth_data")
    if algorithm is None or auth_data is None:
        raise missing_param("algorithm and auth_data are required")
    if not isinstance(algorithm, str) or not algorithm:
        raise invalid_param("algorithm must be a non-empty string")
    if not isinstance(auth_data, dict):
        raise invalid_param("auth_data must be an object")
    return algorithm, auth_data


def _parse_version(version: str) -> int:
    # Versions are issued as decimal numbers; anything else names no backup.
    if not (version.isascii() and version.isdigit()) or len(version) > 18:
        raise not_found(UNKNOWN_VERSION)
    return int(version)


def _wrong_version(current: int) -> MatrixError:
    return MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version", current_version=str(current))


def _version_json(version: BackupVersion) -> dict[str, Any]:
    return {
        "algorithm": version.algorithm,
        "auth_data": version.auth_data,
        "count": version.count,
        "etag": str(version.etag),
        "version": str(version.version),
    }
