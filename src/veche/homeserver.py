"""The HomeServer: every long-lived component of one Veche process, built once from the config.

`HomeServer.create(config)` opens the database, loads (or creates) the signing key and
builds the stores, then the services, then the HTTP apps, handing each component the
collaborators it needs. Nothing is looked up globally: to add a component, build it in
`create` after what it depends on and pass it along.
"""

from __future__ import annotations

import logging
import os
import secrets
import ssl
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from veche.api.app import build_app
from veche.api.federation.auth import ServerAuth
from veche.api.http import Authenticator
from veche.config import Config, Listener, format_host_port
from veche.log import ACCESS_LOG_FORMAT
from veche.protocol.signing import (
    InvalidKeyError,
    SigningKey,
    format_signing_key_file,
    generate_signing_key,
    read_signing_key_file,
)
from veche.services.appservices.client import AppServiceClient
from veche.services.appservices.pusher import TransactionPusher
from veche.services.appservices.registry import AppServices
from veche.services.auth import AuthService
from veche.services.devices import DeviceService
from veche.services.e2ee import E2eeServices, E2eeStores
from veche.services.federation import FederationServices
from veche.services.federation.room_events import FederationEvents
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.backfill import BackfillServer
from veche.services.federation.origin_limits import OriginLimiter
from veche.services.federation.invites import FederatedInvites
from veche.services.federation.membership_requests import MembershipRequests
from veche.services.federation.remote_membership import FederatedMembership
from veche.services.federation.remote_devices import RemoteDeviceLists
from veche.services.federation.remote_directory import FederatedAliasResolver, FederatedRoomDirectory
from veche.services.federation.remote_hierarchy import FederatedHierarchy
from veche.services.federation.remote_keys import FederatedKeys
from veche.services.federation.remote_media import FederatedMedia
from veche.services.federation.remote_profiles import FederatedProfiles
from veche.services.federation.space_summaries import SpaceSummaries
from veche.services.federation.tls import TlsSetupError, server_ssl_context
from veche.services.legacy_sync import LegacySync
from veche.services.room_summaries import RoomSummaries
from veche.services.media.services import MediaServices
from veche.services.notifier import Notifier
from veche.services.openid import OpenIdTokens
from veche.services.passwords import PasswordHasher
from veche.services.admin.services import AdminServices
from veche.services.admin.media import MediaAdmin
from veche.services.admin.registration_tokens import RegistrationTokenAdmin
from veche.services.admin.reports import ReportAdmin
from veche.services.admin.room_purge import RoomPurger
from veche.services.admin.rooms import RoomAdmin
from veche.services.admin.users import UserAdmin
from veche.services.profile import DeactivationCleanup, ProfileService
from veche.services.push.counts import NotificationCounts
from veche.services.push.evaluator import PushEvaluator
from veche.services.push.pushers import PusherService
from veche.services.push.rules import PushRuleService
from veche.services.ratelimit import RateLimiter
from veche.services.registration import RegistrationService
from veche.services.rooms.aliases import RoomAliases
from veche.services.rooms.creation import RoomCreator
from veche.services.rooms.directory import PublicRoomDirectory
from veche.services.rooms.hierarchy import SpaceHierarchy
from veche.services.rooms.members import LocalMembers
from veche.services.rooms.membership import RoomMembership
from veche.services.rooms.messaging import RoomMessaging
from veche.services.rooms.reading import RoomReader
from veche.services.rooms.relations import RelationsReader
from veche.services.rooms.serving import EventSerializer
from veche.services.rooms.sending import EventSender
from veche.services.rooms.upgrade import RoomUpgrader
from veche.services.rooms.visibility import HistoryVisibility
from veche.services.search import SearchService
from veche.services.streams import Stream
from veche.services.sync.e2ee import DeviceKeyCounts, E2eeSections
from veche.services.sync.handler import SyncHandler
from veche.services.sync.notifications import NotificationSections
from veche.services.sync.rooms import RoomSync
from veche.services.sync.sliding import SlidingSync
from veche.services.sync.sliding_extensions import SlidingExtensions
from veche.services.sync.user_data import UserDataSections
from veche.services.uia import UserInteractiveAuth
from veche.services.user_data import UserDataServices, UserDataStores
from veche.services.user_directory import UserDirectory
from veche.services.voip import TurnService
from veche.storage.admin_accounts import AccountAdminStore
from veche.storage.admin_media import MediaAdminStore
from veche.storage.admin_reports import ReportAdminStore
from veche.storage.admin_rooms import RoomAdminStore
from veche.storage.accounts import AccountStore
from veche.storage.appservices import AppServiceStore
from veche.storage.content_index import ContentIndex
from veche.storage.database import Database, open_database
from veche.storage.forgotten_rooms import ForgottenRoomStore
from veche.storage.openid_tokens import OpenIdTokenStore
from veche.storage.profiles import ProfileStore
from veche.storage.push_actions import PushActionStore
from veche.storage.push_rules import PushRuleStore
from veche.storage.pushers import PusherStore
from veche.storage.redactions import RedactionStore
from veche.storage.registration_tokens import RegistrationTokenStore
from veche.storage.remote_devices import RemoteDeviceStore
from veche.storage.relations import RelationStore
from veche.storage.room_directory import AliasStore, ClientTransactionStore, DirectoryStore
from veche.storage.room_history import RoomHistoryStore
from veche.storage.room_purge import RoomPurgeStore
from veche.storage.room_summaries import RoomSummaryStore
from veche.storage.search import SearchIndex
from veche.storage.stores import EventStores, create_event_stores
from veche.storage.uia_sessions import UiaSessionStore
from veche.storage.user_directory import UserDirectoryStore

logger = logging.getLogger(__name__)

# How long a stopping server lets in-flight requests finish.
SHUTDOWN_GRACE_SECONDS = 5.0


class StartupError(Exception):
    """The server cannot start; str(error) is the one line to show the operator."""


class HomeServer:
    def __init__(
        self,
        config: Config,
        db: Database,
        signing_key: SigningKey,
        accounts: AccountStore,
        passwords: PasswordHasher,
        event_stores: EventStores,
        user_data_stores: UserDataStores,
        e2ee_stores: E2eeStores,
    ) -> None:
        self.config = config
        self.server_name = config.server_name
        self.db = db
        self.signing_key = signing_key
        self.accounts = accounts
        self.passwords = passwords
        self.appservices = AppServices(config.server_name, config.appservices, accounts, AppServiceClient())
        self.auth = Authenticator(accounts.lookup_access_token, self.appservices if config.appservices else None)
        self.ratelimiter = RateLimiter(config.rate_limits)
        if any(not reg.rate_limited for reg in config.appservices):
            self.ratelimiter.exempt = self.appservices.is_rate_limit_exempt
        self.devices = DeviceService(accounts)
        self.auth_service = AuthService(
            config.server_name, accounts, passwords, self.devices, self.ratelimiter
        )
        self.uia = UserInteractiveAuth(UiaSessionStore(db), self.auth_service)
        self.registration_tokens = RegistrationTokenStore(db)
        self.openid = OpenIdTokens(OpenIdTokenStore(db))
        self.turn = TurnService(config.turn_uris, config.turn_shared_secret, config.turn_user_lifetime)
        self.registration = RegistrationService(
            server_name=config.server_name,
            mode=config.registration,
            allow_guests=config.allow_guest_access,
            accounts=accounts,
            tokens=self.registration_tokens,
            auth=self.auth_service,
            uia=self.uia,
            ratelimiter=self.ratelimiter,
        )
        self.registration.user_id_checks.append(self.appservices.check_user_id)
        self.stores = event_stores
        self.notifier = Notifier()
        self.notifier.advance(Stream.EVENTS, event_stores.events.current_stream_token)
        self.members = LocalMembers(event_stores.rooms, config.server_name)
        self.sender = EventSender(
            server_name=config.server_name,
            signing_key=signing_key,
            stores=event_stores,
            notifier=self.notifier,
            members=self.members,
        )
        try:
            self.federation = FederationServices(config, db, signing_key, event_stores.events)
        except TlsSetupError as e:
            raise StartupError(str(e)) from None
        self.server_auth = ServerAuth(
            self.federation.request_auth,
            OriginLimiter(config.federation_limits, enabled=config.rate_limits),
        )
        self.user_directory = UserDirectory(
            UserDirectoryStore(db), search_all_users=config.user_directory_search_all_users
        )
        self.profiles = ProfileService(
            server_name=config.server_name,
            accounts=accounts,
            store=ProfileStore(db),
            directory=self.user_directory,
            sender=self.sender,
            rooms=event_stores.rooms,
            events=event_stores.events,
            remote=FederatedProfiles(self.federation.client),
            appservices=self.appservices,
        )
        self.registration.on_registered.append(self.profiles.set_initial_profile)
        self.auth_service.on_account_deactivated.append(
            DeactivationCleanup(
                profiles=self.profiles,
                directory=self.user_directory,
                sender=self.sender,
                rooms=event_stores.rooms,
            )
        )
        self.space_hierarchy = SpaceHierarchy(event_stores, remote=FederatedHierarchy(self.federation.client))
        self.space_summaries = SpaceSummaries(event_stores, self.federation.acl)
        self.aliases = AliasStore(db)
        self.directory = DirectoryStore(db)
        self.room_aliases = RoomAliases(
            server_name=config.server_name,
            sender=self.sender,
            stores=event_stores,
            aliases=self.aliases,
            accounts=accounts,
            remote=FederatedAliasResolver(self.federation.client),
            appservices=self.appservices,
        )
        self.room_summaries = RoomSummaries(event_stores, self.room_aliases, FederatedHierarchy(self.federation.client))
        self.membership = RoomMembership(
            server_name=config.server_name,
            sender=self.sender,
            stores=event_stores,
            aliases=self.room_aliases,
            forgotten=ForgottenRoomStore(db),
            member_profile=self.profiles.get_profile,
            ratelimiter=self.ratelimiter,
        )
        self.room_creator = RoomCreator(
            server_name=config.server_name,
            default_room_version=config.default_room_version,
            sender=self.sender,
            aliases=self.aliases,
            directory=self.directory,
            update_membership=self.membership.update_membership,
            member_profile=self.profiles.get_profile,
        )
        if config.appservices:
            self.room_creator.alias_checks.append(self.appservices.check_alias)
            self.auth_service.on_account_deactivated.append(self.appservices.forget_user)
            self.devices.on_devices_deleted.append(self.appservices.forget_devices)
        self.public_rooms = PublicRoomDirectory(
            server_name=config.server_name,
            directory=self.directory,
            stores=event_stores,
            accounts=accounts,
            remote=FederatedRoomDirectory(self.federation.client),
        )
        self.room_upgrader = RoomUpgrader(
            sender=self.sender,
            stores=event_stores,
            aliases=self.aliases,
            directory=self.directory,
            member_profile=self.profiles.get_profile,
        )
        self.room_service = RoomMessaging(
            sender=self.sender,
            stores=event_stores,
            transactions=ClientTransactionStore(db),
            state_handlers={
                "m.room.member": self.membership.send_member_state,
                "m.room.canonical_alias": self.room_aliases.send_canonical_alias,
            },
        )
        self.user_data = UserDataServices(
            user_data_stores,
            event_stores=event_stores,
            members=self.members,
            accounts=accounts,
            notifier=self.notifier,
        )
        self.membership.use_invite_permission(self.user_data.account_data.invites_blocked)
        self.room_history = RoomHistoryStore(db, event_stores.rooms)
        content_index = ContentIndex(
            db,
            event_stores.rooms,
            lambda: event_stores.events.current_stream_token,
            lambda: event_stores.events.oldest_backfilled_token,
        )
        self.redactions = RedactionStore(db, content_index)
        self.relations = RelationStore(db, event_stores.rooms, content_index)
        self.visibility = HistoryVisibility(event_stores, self.room_history)
        self.serializer = EventSerializer(
            stores=event_stores,
            redactions=self.redactions,
            relations=self.relations,
            transactions=ClientTransactionStore(db),
            visibility=self.visibility,
            ignored_users=self.user_data.account_data.get_ignored_users,
        )
        self.room_reader = RoomReader(
            stores=event_stores,
            history=self.room_history,
            visibility=self.visibility,
            serializer=self.serializer,
            ignored_users=self.user_data.account_data.get_ignored_users,
        )
        self.legacy_sync = LegacySync(
            stores=event_stores,
            reader=self.room_reader,
            serializer=self.serializer,
            notifier=self.notifier,
            directory=self.directory,
            invites_blocked=self.user_data.account_data.invites_blocked,
        )
        self.relations_reader = RelationsReader(
            events=event_stores.events, relations=self.relations, reader=self.room_reader, serializer=self.serializer
        )
        self.remote_devices = RemoteDeviceLists(
            server_name=config.server_name,
            client=self.federation.client,
            store=RemoteDeviceStore(db),
            rooms=event_stores.rooms,
            members=self.members,
        )
        self.e2ee = E2eeServices(
            e2ee_stores,
            server_name=config.server_name,
            accounts=accounts,
            rooms=event_stores.rooms,
            members=self.members,
            notifier=self.notifier,
            devices=self.devices,
            uia=self.uia,
            remote_keys=FederatedKeys(self.federation.client, self.remote_devices),
        )
        self.sender.after_persist.append(self.remote_devices.on_event)
        self.federation_events = FederationEvents(
            server_name=config.server_name,
            db=db,
            federation=self.federation,
            stores=event_stores,
            sender=self.sender,
            user_data=self.user_data,
            e2ee=self.e2ee,
            remote_devices=self.remote_devices,
        )
        self.federation_membership = MembershipRequests(
            server_name=config.server_name,
            signing_key=signing_key,
            stores=event_stores,
            receiver=self.federation_events.receiver,
            sender=self.federation_events.sender,
            acl=self.federation.acl,
            now_ms=self.sender.now_ms,
        )
        self.room_reader.use_backfill(self.federation_events.backfill.fill_history)
        self.federation_backfill = BackfillServer(stores=event_stores, reads=self.federation_events.reads)
        out_of_band = self.federation_events.out_of_band
        self.federation_invites = FederatedInvites(
            server_name=config.server_name,
            signing_key=signing_key,
            client=self.federation.client,
            verifier=EventVerifier(self.federation.keyring),
            receiver=self.federation_events.receiver,
            requests=self.federation_membership,
            stores=event_stores,
            out_of_band=out_of_band,
            acl=self.federation.acl,
            invites_blocked=self.user_data.account_data.invites_blocked,
        )
        self.membership.use_remote(
            FederatedMembership(
                server_name=config.server_name,
                signing_key=signing_key,
                client=self.federation.client,
                verifier=EventVerifier(self.federation.keyring),
                receiver=self.federation_events.receiver,
                stores=event_stores,
                invites=self.federation_invites,
                out_of_band=out_of_band,
                now_ms=self.sender.now_ms,
            )
        )
        self.push_rules = PushRuleService(PushRuleStore(db), self.user_data.account_data)
        self.registration.on_registered.append(self.push_rules.publish)
        push_actions = PushActionStore(db, lambda: event_stores.events.current_stream_token)
        user_data_stores.receipts.on_stored.append(push_actions.receipt_stored)
        self.notification_counts = NotificationCounts(
            push_actions, user_data_stores.receipts, event_stores.events, self.serializer
        )
        self.pushers = PusherService(
            PusherStore(db), events=event_stores.events, unread_count=self.notification_counts.total_unread
        )
        self.devices.on_devices_deleted.append(self.pushers.delete_devices)
        push_evaluator = PushEvaluator(
            events=event_stores.events,
            rooms=event_stores.rooms,
            members=self.members,
            rules=self.push_rules,
            actions=push_actions,
            pushers=self.pushers,
        )
        self.sender.companions.append(push_evaluator)
        search_index = SearchIndex(
            db,
            lambda: event_stores.events.current_stream_token,
            lambda: event_stores.events.oldest_backfilled_token,
        )
        self.search = SearchService(
            index=search_index,
            stores=event_stores,
            history=self.room_history,
            visibility=self.visibility,
            serializer=self.serializer,
        )
        self.sender.after_persist.append(self.search.on_event)
        self.appservice_pusher: TransactionPusher | None = None
        if config.appservices:
            # None registered, nothing added to the send path.
            self.appservice_pusher = TransactionPusher(
                server_name=config.server_name,
                registrations=config.appservices,
                store=AppServiceStore(db),
                events=event_stores.events,
                members=self.members,
                aliases=self.aliases,
                client=self.appservices.client,
            )
            self.sender.after_persist.append(self.appservice_pusher.on_event)
            if any(reg.receive_ephemeral for reg in config.appservices):
                self.user_data.typing.on_change.append(self.appservice_pusher.on_typing)
                self.user_data.receipts.on_public_receipt.append(self.appservice_pusher.on_receipt)
        room_sync = RoomSync(
            stores=event_stores,
            summaries=RoomSummaryStore(db),
            serialize=self.serializer.serialize,
            visible_to=self.visibility.filter_events_for_user,
            forgotten_rooms=self.membership.forgotten_rooms,
            ignored_users=self.user_data.account_data.get_ignored_users,
            invite_permission=self.user_data.account_data,
        )
        self.sync = SyncHandler(stores=event_stores, notifier=self.notifier, room_sync=room_sync)
        self.sync.add_section_filler(UserDataSections(self.user_data))
        self.sync.add_section_filler(E2eeSections(self.e2ee))
        self.sync.add_device_filler(DeviceKeyCounts(self.e2ee))
        self.sync.add_section_filler(NotificationSections(self.notification_counts))
        self.sliding_sync = SlidingSync(
            stores=event_stores,
            summaries=RoomSummaryStore(db),
            serialize=self.serializer.serialize,
            visible_to=self.visibility.filter_events_for_user,
            forgotten_rooms=self.membership.forgotten_rooms,
            ignored_users=self.user_data.account_data.get_ignored_users,
            stripped_state=room_sync.stripped_state,
            notifier=self.notifier,
            user_data=self.user_data,
            counts=self.notification_counts,
            extensions=SlidingExtensions(self.user_data, self.e2ee),
        )
        # Every stream's writer has announced its persisted position by now.
        self.notifier.mark_started()
        self.remote_media = FederatedMedia(
            self.federation.client, allow_private=config.federation_allow_private_addresses
        )
        self.media = MediaServices(config, db, self.remote_media)
        room_purger = RoomPurger(
            store=RoomPurgeStore(db),
            stores=event_stores,
            followers=[search_index, content_index],
            members=self.members,
            push_actions=push_actions,
        )
        room_purger.on_purged += [
            push_evaluator.forget_room,
            self.federation_events.backfill.forget_room,
            self.sliding_sync.forget_room,
            self.user_data.typing.forget_room,
        ]
        if self.appservice_pusher is not None:
            room_purger.on_purged.append(self.appservice_pusher.forget_room)
        self.admin = AdminServices(
            users=UserAdmin(
                config.server_name,
                accounts,
                AccountAdminStore(db),
                self.auth_service,
                self.devices,
                self.profiles,
                self.registration,
            ),
            rooms=RoomAdmin(
                server_name=config.server_name,
                store=RoomAdminStore(db, config.server_name),
                accounts=accounts,
                events=event_stores.events,
                rooms=event_stores.rooms,
                sender=self.sender,
                membership=self.membership,
                creator=self.room_creator,
                aliases=self.aliases,
                directory=self.directory,
                purger=room_purger,
            ),
            registration_tokens=RegistrationTokenAdmin(self.registration_tokens),
            media=MediaAdmin(config.server_name, MediaAdminStore(db), self.media.repository),
            reports=ReportAdmin(ReportAdminStore(db), event_stores.events),
        )
        self.membership.join_checks.append(self.admin.rooms.check_join)
        self._runners: list[web.AppRunner] = []
        # Resource → the (host, port) it is served on, known once `start` has bound it.
        self.bound: dict[str, tuple[str, int]] = {}

    @classmethod
    async def create(
        cls, config: Config, *, passwords: PasswordHasher | None = None
    ) -> HomeServer:
        """`passwords` replaces the default hasher (tests pass a cheap one)."""
        config.data_dir.mkdir(parents=True, exist_ok=True)
        signing_key = load_or_create_signing_key(config.signing_key_path)
        db = await open_configured_database(config)
        accounts = AccountStore(db)
        event_stores = await create_event_stores(db, config.caches)
        user_data_stores = await UserDataStores.create(db)
        e2ee_stores = await E2eeStores.create(db)
        return cls(
            config,
            db,
            signing_key,
            accounts,
            passwords or PasswordHasher(),
            event_stores,
            user_data_stores,
            e2ee_stores,
        )

    async def start(self) -> None:
        """Binds every listener; `bound` then holds the real ports (useful with port 0)."""
        await self.user_data.start()
        await self.media.start()
        await self.pushers.start()
        await self.federation_events.start()
        await self.appservices.start()
        if self.appservice_pusher is not None:
            await self.appservice_pusher.start()
        ssl_context = self._listener_ssl_context()
        for listener in self.config.listeners:
            runner = web.AppRunner(
                build_app(self, listener.resources),
                access_log_format=ACCESS_LOG_FORMAT,
                shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
            )
            await runner.setup()
            self._runners.append(runner)
            try:
                site_ssl = ssl_context if listener.tls else None
                await web.TCPSite(runner, listener.host, listener.port, ssl_context=site_ssl).start()
            except OSError as e:
                raise StartupError(f"cannot listen on {listener.address}: {e.strerror}") from None
            host, port = runner.addresses[0][:2]
            for resource in listener.resources:
                self.bound[resource] = (host, port)
            scheme = "https" if listener.tls else "http"
            logger.info(
                "Serving %s on %s://%s", _describe(listener), scheme, format_host_port(host, port)
            )

    def _listener_ssl_context(self) -> ssl.SSLContext | None:
        cert, key = self.config.tls_cert, self.config.tls_key
        if cert is None or key is None or not any(entry.tls for entry in self.config.listeners):
            return None
        try:
            return server_ssl_context(cert, key)
        except TlsSetupError as e:
            raise StartupError(str(e)) from None

    async def stop(self) -> None:
        """Stops accepting, lets in-flight requests finish briefly, then closes everything."""
        # Long-polling requests answer now rather than run out the shutdown grace period.
        self.notifier.close()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        await self.federation_events.stop()
        if self.appservice_pusher is not None:
            await self.appservice_pusher.stop()
        await self.appservices.client.close()
        await self.federation.stop()
        await self.user_data.stop()
        await self.media.stop()
        await self.remote_media.close()
        await self.pushers.stop()
        await self.search.stop()
        await self.db.close()
        self.passwords.close()


def _describe(listener: Listener) -> str:
    return ", ".join(sorted(listener.resources))


def load_or_create_signing_key(path: Path) -> SigningKey:
    """The server's signing key; a new one is written (mode 0600) if the file is absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _create_signing_key(path)
    except OSError as e:
        raise StartupError(f"cannot read the signing key {path}: {e.strerror}") from None
    try:
        return read_signing_key_file(text)
    except InvalidKeyError as e:
        raise StartupError(f"signing key {path}: {e}") from None


def _create_signing_key(path: Path) -> SigningKey:
    # Synapse names its keys a_XXXX; any [A-Za-z0-9_] version would do.
    key = generate_signing_key("a_" + secrets.token_hex(2))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise StartupError(f"cannot create the signing key {path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(format_signing_key_file(key))
    logger.info("Generated signing key %s in %s", key.key_id, path)
    return key


async def open_configured_database(config: Config) -> Database:
    try:
        return await open_database(config.database)
    except Exception as e:
        logger.debug("Opening the database failed", exc_info=True)
        raise StartupError(f"database {_redact(config.database)}: {e}") from None


def _redact(target: str) -> str:
    """The database target without the password a DSN may carry."""
    parts = urlsplit(target)
    if parts.password is None:
        return target
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
