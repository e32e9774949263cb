"""The event side of federation, wired together: receiving transactions, the outbox,
fan-out of local events and EDUs, and what peers may read. The HomeServer holds it as
`hs.federation_events`.

    .receiver      PduReceiver: receive_pdu / import_outliers / persist_with_state
    .transactions  TransactionHandler: PUT /send/{txnId}
    .reads         PeerReads: /event, /state, /state_ids, /event_auth, /get_missing_events
    .sender        FederationSender: send_event, send_edu_to_room, send_edu_to_servers
    .outbox        FederationOutbox: send_pdu, send_edu, send_edus
    .edus          EduReceiver (its `handlers` map takes more EDU types)
    .backfill      RemoteBackfill: fill_history, older history from other servers for /messages
    .out_of_band   OutOfBandMemberships: local users' invites, knocks and leaves in rooms not held here
    .withdrawals   WithdrawnMemberships: such an invite or knock ended by a server in the room
"""

from __future__ import annotations

from veche.services.e2ee import E2eeServices
from veche.services.federation import FederationServices
from veche.services.federation.device_list_edus import DeviceListRelay
from veche.services.federation.edus import EduReceiver, EduRelay
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.invites import OutOfBandMemberships
from veche.services.federation.missing_events import RemoteEvents
from veche.services.federation.outbox import FederationOutbox
from veche.services.federation.peer_reads import PeerReads
from veche.services.federation.receiver import PduReceiver
from veche.services.federation.remote_backfill import RemoteBackfill
from veche.services.federation.remote_devices import RemoteDeviceLists
from veche.services.federation.sender import FederationSender
from veche.services.federation.transactions import TransactionHandler
from veche.services.federation.withdrawals import WithdrawnMemberships
from veche.services.rooms.sending import EventSender
from veche.services.user_data import UserDataServices
from veche.storage.database import Database
from veche.storage.federation_txns import ReceivedTransactionStore
from veche.storage.outbox import OutboxStore
from veche.storage.stores import EventStores


class FederationEvents:
    def __init__(
        self,
        *,
        server_name: str,
        db: Database,
        federation: FederationServices,
        stores: EventStores,
        sender: EventSender,
        user_data: UserDataServices,
        e2ee: E2eeServices,
        remote_devices: RemoteDeviceLists,
    ) -> None:
        self.outbox = FederationOutbox(
            server_name=server_name, store=OutboxStore(db), events=stores.events, client=federation.client
        )
        self.sender = FederationSender(server_name=server_name, rooms=stores.rooms, outbox=self.outbox)
        sender.after_persist.append(self.sender.on_event)
        remote = RemoteEvents(federation.client)
        self.receiver = PduReceiver(
            stores=stores,
            sender=sender,
            verifier=EventVerifier(federation.keyring),
            remote=remote,
            acl=federation.acl,
        )
        self.backfill = RemoteBackfill(
            server_name=server_name, stores=stores, remote=remote, receiver=self.receiver, acl=federation.acl
        )
        self.edus = EduReceiver(
            server_name=server_name,
            rooms=stores.rooms,
            acl=federation.acl,
            typing=user_data.typing,
            receipts=user_data.receipts,
            presence=user_data.presence,
            to_device=e2ee.to_device,
            device_lists=e2ee.device_lists,
            remote_devices=remote_devices,
        )
        self.out_of_band = OutOfBandMemberships(stores=stores, sender=sender)
        self.withdrawals = WithdrawnMemberships(
            server_name=server_name,
            stores=stores,
            verifier=EventVerifier(federation.keyring),
            acl=federation.acl,
            out_of_band=self.out_of_band,
        )
        self.transactions = TransactionHandler(
            receiver=self.receiver,
            edus=self.edus,
            store=ReceivedTransactionStore(db),
            outbox=self.outbox,
            withdrawals=self.withdrawals,
        )
        self.reads = PeerReads(stores=stores, acl=federation.acl)
        relay = EduRelay(self.sender)
        user_data.typing.on_local_change.append(relay.typing_changed)
        user_data.receipts.on_local_receipt.append(relay.receipt_sent)
        user_data.presence.on_local_change.append(relay.presence_changed)
        e2ee.to_device.send_remote = relay.to_device
        device_lists = DeviceListRelay(
            server_name=server_name,
            sender=self.sender,
            keys=e2ee.keys,
            device_lists=e2ee.device_lists,
            stores=stores,
        )
        # After self.sender.on_event: the join leaves before the EDUs it makes due.
        sender.after_persist.append(device_lists.on_event)
        e2ee.device_lists.on_local_device_change.append(device_lists.devices_changed)
        e2ee.device_lists.on_local_signing_keys_change.append(device_lists.signing_keys_changed)

    async def start(self) -> None:
        await self.outbox.start()

    async def stop(self) -> None:
        await self.outbox.stop()
