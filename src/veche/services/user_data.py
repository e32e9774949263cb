"""Building the per-user and ephemeral-room services (account data, tags, filters, typing,
receipts, presence, reports) over their stores, for the HomeServer."""

from __future__ import annotations

from dataclasses import dataclass

from veche.services.account_data import AccountDataService
from veche.services.filters import FilterService
from veche.services.notifier import Notifier
from veche.services.presence import PresenceService
from veche.services.receipts import ReceiptService
from veche.services.reports import ReportService
from veche.services.rooms.members import LocalMembers
from veche.services.typing import TypingService
from veche.storage.account_data import AccountDataStore
from veche.storage.accounts import AccountStore
from veche.storage.database import Database
from veche.storage.filters import FilterStore
from veche.storage.presence import PresenceStore
from veche.storage.receipts import ReceiptStore
from veche.storage.reports import ReportStore
from veche.storage.stores import EventStores


@dataclass(frozen=True, slots=True)
class UserDataStores:
    account_data: AccountDataStore
    receipts: ReceiptStore
    presence: PresenceStore
    filters: FilterStore
    reports: ReportStore

    @classmethod
    async def create(cls, db: Database) -> UserDataStores:
        """The stores; the stream allocators start after the newest persisted rows."""
        return cls(
            account_data=await AccountDataStore.create(db),
            receipts=await ReceiptStore.create(db),
            presence=await PresenceStore.create(db),
            filters=FilterStore(db),
            reports=ReportStore(db),
        )


class UserDataServices:
    def __init__(
        self,
        stores: UserDataStores,
        *,
        event_stores: EventStores,
        members: LocalMembers,
        accounts: AccountStore,
        notifier: Notifier,
    ) -> None:
        self.account_data = AccountDataService(stores.account_data, notifier)
        self.filters = FilterService(stores.filters)
        self.typing = TypingService(members, notifier)
        self.receipts = ReceiptService(
            stores.receipts, event_stores.events, members, self.account_data, notifier
        )
        self.presence = PresenceService(
            stores.presence, event_stores.rooms, members, accounts, notifier
        )
        self.reports = ReportService(
            stores.reports, event_stores.events, event_stores.rooms, members, accounts
        )

    async def start(self) -> None:
        await self.presence.start()

    async def stop(self) -> None:
        self.typing.close()
        await self.presence.stop()
