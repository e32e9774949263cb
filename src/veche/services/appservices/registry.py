"""The registered application services: who their tokens authenticate (identity assertion),
which user IDs and aliases their exclusive namespaces keep from everyone else, and the
queries asking a service whether it has a user or alias this server does not know yet.

Spec: application-service-api.md, "Registration", "Querying" and "Client-Server API
Extensions" ("Identity assertion", "Server admin style permissions").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from veche.errors import MatrixError, forbidden
from veche.protocol.appservice import APPSERVICE_LOGIN, Registration
from veche.services.appservices.client import AppServiceClient
from veche.storage.accounts import AccountStore, TokenInfo, UserIdTaken

logger = logging.getLogger(__name__)

# A request asserting no device (the spec's "made without a device ID").
NO_DEVICE = ""
# Users (and user, device pairs) known to exist, so a masquerading request reads nothing.
_KNOWN_CACHE_SIZE = 100_000


class AppServices:
    def __init__(
        self,
        server_name: str,
        registrations: Sequence[Registration],
        accounts: AccountStore,
        client: AppServiceClient,
    ) -> None:
        self.server_name = server_name
        self.registrations = tuple(registrations)
        self.by_id: Mapping[str, Registration] = {reg.id: reg for reg in registrations}
        self._by_token: Mapping[str, Registration] = {reg.as_token: reg for reg in registrations}
        self._accounts = accounts
        self.client = client
        self._known_users: set[str] = set()
        self._known_devices: set[tuple[str, str]] = set()

    async def start(self) -> None:
        """Each service's own user exists from the start (it is what its token acts as)."""
        for reg in self.registrations:
            try:
                await self._accounts.create_account(reg.sender(self.server_name), None)
            except UserIdTaken:
                pass

    def by_token(self, token: str) -> Registration | None:
        return self._by_token.get(token)

    def require_by_token(self, token: str | None) -> Registration:
        """The service whose as_token `token` is, for m.login.application_service (login
        and registration); 401 M_UNKNOWN_TOKEN for any other token."""
        reg = self.by_token(token) if token is not None else None
        if reg is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", f"{APPSERVICE_LOGIN} needs an application service's token")
        return reg

    async def check_login(self, reg: Registration, user_id: str) -> None:
        """m.login.application_service logs in only a registered user of the service's
        users namespace (application-service-api.md, "Server admin style permissions")."""
        if not reg.is_user_interesting(user_id, self.server_name):
            raise forbidden(f"{user_id} is not in the application service's namespace")
        account = await self._accounts.get_account(user_id)
        if account is None:
            raise forbidden(f"{user_id} has not been registered")
        if account.deactivated:
            raise MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated")

    # Identity assertion

    async def requester(self, reg: Registration, user_id: str | None, device_id: str | None) -> TokenInfo:
        """Who a request bearing `reg`'s as_token acts as: `user_id` (in its users
        namespace) or its own user, on `device_id` (which must be that user's) or none."""
        sender = reg.sender(self.server_name)
        if user_id is None or user_id == sender:
            user_id = sender
        else:
            if not reg.is_user_interesting(user_id, self.server_name) or not self._is_local(user_id):
                raise forbidden(f"Appservice {reg.id} cannot masquerade as {user_id}: not in its namespace")
            if user_id not in self._known_users:
                account = await self._accounts.get_account(user_id)
                if account is None or account.deactivated:
                    raise forbidden(f"Appservice {reg.id} has not registered {user_id}")
                self._remember(self._known_users, user_id)
        if device_id is None:
            device_id = NO_DEVICE
        elif (user_id, device_id) not in self._known_devices:
            if await self._accounts.get_device(user_id, device_id) is None:
                raise MatrixError(400, "M_UNKNOWN_DEVICE", f"{device_id} is not a device of {user_id}")
            self._remember(self._known_devices, (user_id, device_id))
        return TokenInfo(0, user_id, device_id, False, None, appservice_id=reg.id)

    async def forget_user(self, user_id: str) -> None:
        """A deactivated account may no longer be acted as (a deactivation hook)."""
        self._known_users.discard(user_id)
        self._known_devices = {key for key in self._known_devices if key[0] != user_id}

    async def forget_devices(self, user_id: str, device_ids: Sequence[str]) -> None:
        """Deleted devices may no longer be acted on (a device deletion hook)."""
        for device_id in device_ids:
            self._known_devices.discard((user_id, device_id))

    def is_rate_limit_exempt(self, user_id: str) -> bool:
        """A user of a service registered with `rate_limited: false`."""
        return any(
            not reg.rate_limited and reg.is_user_interesting(user_id, self.server_name) for reg in self.registrations
        )

    # Exclusive namespaces

    def check_user_id(self, user_id: str, appservice_id: str | None = None) -> None:
        """400 M_EXCLUSIVE if a service other than `appservice_id` owns `user_id`."""
        for reg in self.registrations:
            if reg.id != appservice_id and reg.owns_user(user_id):
                raise MatrixError(400, "M_EXCLUSIVE", f"{user_id} is reserved by an application service")

    def check_alias(self, user_id: str, alias: str) -> None:
        """400 M_EXCLUSIVE if `alias` is in a service's exclusive namespace and `user_id`
        is not one of that service's users."""
        for reg in self.registrations:
            if reg.owns_alias(alias) and not reg.is_user_interesting(user_id, self.server_name):
                raise MatrixError(400, "M_EXCLUSIVE", f"{alias} is reserved by an application service")

    # Queries

    async def query_user(self, user_id: str) -> bool:
        """Ask the services whose users namespace covers `user_id` whether they have it."""
        for reg in self.registrations:
            if reg.url is not None and reg.is_user_interesting(user_id, self.server_name):
                if await self.client.query_user(reg, user_id):
                    return True
        return False

    async def query_alias(self, alias: str) -> bool:
        for reg in self.registrations:
            if reg.url is not None and reg.is_alias_interesting(alias):
                if await self.client.query_alias(reg, alias):
                    return True
        return False

    def _is_local(self, user_id: str) -> bool:
        return user_id.endswith(":" + self.server_name)

    @staticmethod
    def _remember(cache: set, key: object) -> None:
        if len(cache) >= _KNOWN_CACHE_SIZE:
            cache.clear()
        cache.add(key)
