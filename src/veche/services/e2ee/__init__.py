"""End-to-end encryption support: keys, device lists, to-device messages, cross-signing and
key backups, built together over their stores for the HomeServer."""

from __future__ import annotations

from dataclasses import dataclass

from veche.services.devices import DeviceService
from veche.services.e2ee.cross_signing import CrossSigning
from veche.services.e2ee.device_lists import DeviceLists
from veche.services.e2ee.key_backup import KeyBackups
from veche.services.e2ee.keys import E2eKeys, RemoteKeys
from veche.services.e2ee.to_device import ToDeviceMessaging
from veche.services.notifier import Notifier
from veche.services.rooms.members import LocalMembers
from veche.services.uia import UserInteractiveAuth
from veche.storage.accounts import AccountStore
from veche.storage.database import Database
from veche.storage.device_lists import DeviceListStore
from veche.storage.e2e_keys import E2eKeyStore
from veche.storage.key_backup import KeyBackupStore
from veche.storage.rooms import RoomStore
from veche.storage.to_device import ToDeviceStore


@dataclass(frozen=True, slots=True)
class E2eeStores:
    keys: E2eKeyStore
    device_lists: DeviceListStore
    to_device: ToDeviceStore
    key_backup: KeyBackupStore

    @classmethod
    async def create(cls, db: Database) -> E2eeStores:
        """The stores; the stream allocators start after the newest persisted positions."""
        return cls(
            keys=E2eKeyStore(db),
            device_lists=await DeviceListStore.create(db),
            to_device=await ToDeviceStore.create(db),
            key_backup=KeyBackupStore(db),
        )


class E2eeServices:
    """Announces the device-list and to-device streams' positions to the notifier when
    built, and follows device deletion through the device service's hooks."""

    def __init__(
        self,
        stores: E2eeStores,
        *,
        server_name: str,
        accounts: AccountStore,
        rooms: RoomStore,
        members: LocalMembers,
        notifier: Notifier,
        devices: DeviceService,
        uia: UserInteractiveAuth,
        remote_keys: RemoteKeys | None = None,
    ) -> None:
        self.device_lists = DeviceLists(stores.device_lists, rooms, members, notifier)
        self.keys = E2eKeys(server_name, stores.keys, accounts, self.device_lists, remote_keys)
        self.cross_signing = CrossSigning(stores.keys, accounts, self.device_lists, uia)
        self.to_device = ToDeviceMessaging(server_name, stores.to_device, accounts, notifier)
        self.key_backups = KeyBackups(stores.key_backup)
        devices.on_devices_deleted.append(self.keys.delete_devices)
        devices.on_devices_deleted.append(self.to_device.delete_devices)
        devices.on_device_changed.append(self.keys.device_changed)
