"""A user's devices: naming, listing, creating and deleting them.

Deleting a device revokes its access and refresh tokens at once; what else belongs to a
device (its end-to-end keys, its to-device queue) is removed by whoever owns it, through
`on_devices_deleted`. Creating or renaming a device calls `on_device_changed`, for the
device-list updates that end-to-end encryption announces.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Awaitable, Callable

from veche.errors import MatrixError, not_found
from veche.storage.accounts import AccountStore, Device

logger = logging.getLogger(__name__)

DeviceHook = Callable[[str, list[str]], Awaitable[None]]

DEVICE_ID_LENGTH = 10
# Device IDs end up in URLs, keys and logs; a bound keeps every one of them sane.
MAX_DEVICE_ID_LENGTH = 255
MAX_DISPLAY_NAME_LENGTH = 255


class DeviceService:
    def __init__(self, accounts: AccountStore) -> None:
        self._accounts = accounts
        # Each called with (user_id, device_ids) after the devices are gone.
        self.on_devices_deleted: list[DeviceHook] = []
        # Each called with (user_id, [device_id]) after a device is created or renamed.
        self.on_device_changed: list[DeviceHook] = []

    async def list(self, user_id: str) -> list[Device]:
        return await self._accounts.list_devices(user_id)

    async def get(self, user_id: str, device_id: str) -> Device:
        device = await self._accounts.get_device(user_id, device_id)
        if device is None:
            raise not_found("No device with this ID")
        return device

    async def rename(self, user_id: str, device_id: str, display_name: str | None) -> None:
        if display_name is not None and len(display_name) > MAX_DISPLAY_NAME_LENGTH:
            raise MatrixError(400, "M_INVALID_PARAM", "display_name is too long")
        if not await self._accounts.set_device_display_name(user_id, device_id, display_name):
            raise not_found("No device with this ID")
        await _run_hooks(self.on_device_changed, user_id, [device_id])

    async def open_session_device(
        self, user_id: str, device_id: str | None, display_name: str | None
    ) -> str:
        """The device a new login or registration gets its tokens on.

        An existing device keeps its name but loses the tokens issued to it before
        (client-server-api/_index.md, "Relationship between access tokens and devices").
        """
        if device_id is None:
            device_id = await self._create_random_device(user_id, display_name)
        elif not await self._accounts.create_device(user_id, device_id, display_name):
            await self._accounts.delete_device_tokens(user_id, device_id)
            return device_id
        await _run_hooks(self.on_device_changed, user_id, [device_id])
        return device_id

    async def _create_random_device(self, user_id: str, display_name: str | None) -> str:
        while True:
            device_id = _random_device_id()
            if await self._accounts.create_device(user_id, device_id, display_name):
                return device_id

    async def delete(self, user_id: str, device_ids: list[str]) -> None:
        """Deletes the devices (unknown IDs are ignored) and every token issued to them."""
        # Followers hear only of devices that existed: each deletion is announced to
        # other servers, and made-up IDs must not turn into announcements.
        existing = {device.device_id for device in await self._accounts.list_devices(user_id)}
        deleted = [device_id for device_id in dict.fromkeys(device_ids) if device_id in existing]
        await self._accounts.delete_devices(user_id, deleted)
        await _run_hooks(self.on_devices_deleted, user_id, deleted)

    async def delete_all(self, user_id: str, *, except_device_id: str | None = None) -> None:
        deleted = await self._accounts.delete_all_devices(user_id, except_device_id=except_device_id)
        await _run_hooks(self.on_devices_deleted, user_id, deleted)

    async def run_deleted_hooks(self, user_id: str, device_ids: list[str]) -> None:
        """For callers that removed devices through the store directly (deactivation)."""
        await _run_hooks(self.on_devices_deleted, user_id, device_ids)


def check_device_id(value: object) -> str:
    """A client-chosen device ID, or 400 M_INVALID_PARAM."""
    if not isinstance(value, str) or not value or len(value) > MAX_DEVICE_ID_LENGTH:
        raise MatrixError(
            400,
            "M_INVALID_PARAM",
            f"device_id must be a non-empty string of at most {MAX_DEVICE_ID_LENGTH} characters",
        )
    return value


def _random_device_id() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(DEVICE_ID_LENGTH))


async def _run_hooks(hooks: list[DeviceHook], user_id: str, device_ids: list[str]) -> None:
    if not device_ids:
        return
    for hook in hooks:
        # The devices are gone whatever a follower does; one failing must not stop the rest.
        try:
            await hook(user_id, device_ids)
        except Exception:
            logger.exception("Device hook %r failed for %s", hook, user_id)
