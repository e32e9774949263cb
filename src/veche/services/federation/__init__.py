"""Federation foundation: how this server reaches other servers and knows who is calling.

Modules (each documents its API):

- `addresses`  AddressPolicy: which IPs outgoing federation may connect to.
- `dns`        DnsResolver (SRV, host addresses) and the system implementation.
- `well_known` WellKnownCache: /.well-known/matrix/server, fetched and cached.
- `discovery`  ServerResolver.resolve(server_name) -> ResolvedServer (addresses, Host, TLS name).
- `tls`        SSL contexts for TLS listeners and for outgoing federation.
- `client`     FederationClient.get_json/put_json/post_json, signed with X-Matrix.
- `local_keys` LocalServerKeys: our key response, old keys for rotation.
- `keyring`    Keyring.get_key/verify_json: peers' keys, directly or through notaries.
- `transport_auth` RequestAuthenticator: the origin of a signed incoming request.
- `acl`        ServerAclChecker: m.room.server_acl on inbound paths.

`FederationServices` builds them all from the config; the HomeServer holds it as
`hs.federation`. Pure rules live in `veche.protocol` (x_matrix, server_keys, server_acl);
the HTTP side in `veche.api.federation` and `veche.api.keys`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from veche.config import Config
from veche.protocol.signing import SigningKey
from veche.services.federation.acl import ServerAclChecker
from veche.services.federation.addresses import AddressPolicy
from veche.services.federation.client import FederationClient
from veche.services.federation.discovery import ServerResolver
from veche.services.federation.dns import DnsResolver, SystemDnsResolver
from veche.services.federation.keyring import Keyring, Notary
from veche.services.federation.local_keys import LocalServerKeys
from veche.services.federation.tls import federation_client_ssl_context
from veche.services.federation.transport_auth import RequestAuthenticator
from veche.services.federation.well_known import HttpsWellKnownFetcher, WellKnownCache
from veche.storage.database import Database
from veche.storage.events import EventStore
from veche.storage.server_keys import ServerKeyStore


def now_ms() -> int:
    return int(time.time() * 1000)


class FederationServices:
    """Everything above, wired together. `dns` replaces the system resolver (tests)."""

    def __init__(
        self,
        config: Config,
        db: Database,
        signing_key: SigningKey,
        events: EventStore,
        *,
        dns: DnsResolver | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.policy = AddressPolicy(allow_private=config.federation_allow_private_addresses)
        self.dns = dns or SystemDnsResolver()
        ssl_context = federation_client_ssl_context(
            ca_files=config.federation_ca_files,
            verify=not config.federation_insecure_skip_tls_verification_for_tests,
        )
        self._well_known_fetcher = HttpsWellKnownFetcher(
            ssl_context=ssl_context, dns=self.dns, policy=self.policy
        )
        self.resolver = ServerResolver(
            dns=self.dns, well_known=WellKnownCache(self._well_known_fetcher), policy=self.policy
        )
        self.client = FederationClient(
            server_name=config.server_name,
            signing_key=signing_key,
            resolver=self.resolver,
            ssl_context=ssl_context,
        )
        self.local_keys = LocalServerKeys(
            config.server_name, signing_key, config.old_signing_keys, clock
        )
        self.keyring = Keyring(
            local_keys=self.local_keys,
            store=ServerKeyStore(db),
            client=self.client,
            notaries=[
                Notary(server.server_name, dict(server.verify_keys))
                for server in config.trusted_key_servers
            ],
            clock=clock,
        )
        self.request_auth = RequestAuthenticator(config.server_name, self.keyring, clock)
        self.acl = ServerAclChecker(events)

    async def stop(self) -> None:
        await self.client.close()
        await self._well_known_fetcher.close()
