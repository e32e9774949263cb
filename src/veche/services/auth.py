"""Password login, access and refresh tokens, logout, password change and deactivation.

Spec: client-server-api/_index.md "Client Authentication" (legacy API) and login.yaml,
refresh.yaml, logout.yaml, password_management.yaml, account_deactivation.yaml.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from veche.errors import MatrixError, forbidden, invalid_param, missing_param
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.services.devices import DeviceService, check_device_id
from veche.services.passwords import PasswordHasher
from veche.services.ratelimit import RateLimiter, RateLimits
from veche.storage.accounts import AccountStore, IssuedTokens, TokenInfo

logger = logging.getLogger(__name__)

# Lifetime of an access token handed to a client that can refresh it; clients that cannot
# get tokens that never expire (the spec leaves that choice to the server).
REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS = 5 * 60 * 1000
# argon2 cost grows with the input; nobody needs a longer password than this.
MAX_PASSWORD_LENGTH = 512

AccountHook = Callable[[str], Awaitable[None]]

_BAD_CREDENTIALS = "Invalid username or password"


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful login, registration or refresh hands the client."""

    user_id: str
    device_id: str
    access_token: str
    refresh_token: str | None
    expires_in_ms: int | None


class AuthService:
    def __init__(
        self,
        server_name: str,
        accounts: AccountStore,
        passwords: PasswordHasher,
        devices: DeviceService,
        ratelimiter: RateLimiter,
        *,
        refreshable_token_lifetime_ms: int = REFRESHABLE_ACCESS_TOKEN_LIFETIME_MS,
    ) -> None:
        self.server_name = server_name
        self._accounts = accounts
        self._passwords = passwords
        self._devices = devices
        self._ratelimiter = ratelimiter
        self.refreshable_token_lifetime_ms = refreshable_token_lifetime_ms
        # Each called with the user ID after the account is deactivated and logged out
        # (leaving rooms, clearing the profile and the like belong to their owners).
        self.on_account_deactivated: list[AccountHook] = []
        # A hash to verify against when the user does not exist, so that a failed login
        # takes as long for an unknown user as for a wrong password.
        self._decoy_hash: str | None = None

    # Identifying users

    def local_user_id(self, user: str) -> str:
        """A user ID of this server from a full user ID or a localpart; 403 otherwise."""
        if user.startswith("@"):
            try:
                parsed = parse_user_id(user)
            except InvalidIdentifier:
                raise forbidden(_BAD_CREDENTIALS) from None
            if parsed.server_name != self.server_name:
                raise forbidden(_BAD_CREDENTIALS)
            return str(parsed)
        return f"@{user}:{self.server_name}"

    def user_from_identifier(self, body: dict[str, Any]) -> str:
        """The user a login or `m.login.password` auth dict names (client-server-api
        "Identifier types"), by `identifier` or the deprecated top-level `user`."""
        identifier = body.get("identifier")
        if identifier is None:
            user = body.get("user")
            if user is None:
                raise missing_param("Missing identifier")
        else:
            if not isinstance(identifier, dict):
                raise invalid_param("identifier must be an object")
            kind = identifier.get("type")
            if kind in ("m.id.thirdparty", "m.id.phone"):
                # No third-party identifier is bound to any account here; the spec's answer
                # for an unknown 3PID is 403.
                raise forbidden("Third-party identifiers are not bound to accounts here")
            if kind != "m.id.user":
                raise MatrixError(400, "M_UNKNOWN", f"Unknown identifier type {kind!r}")
            user = identifier.get("user")
            if user is None:
                raise missing_param("Missing identifier.user")
        if not isinstance(user, str) or not user:
            raise invalid_param("The user must be a non-empty string")
        return self.local_user_id(user)

    # Passwords

    async def check_password(self, user_id: str, password: Any) -> str:
        """The user ID, canonically cased, if `password` is the account's; otherwise 403.

        Failed attempts count against the account, which then locks for a while.
        """
        if password is None:
            raise missing_param("Missing password")
        if not isinstance(password, str):
            raise invalid_param("password must be a string")
        self._ratelimiter.check(RateLimits.LOGIN_FAILED, user_id, consume=False)
        account = await self._accounts.get_account(user_id)
        if account is None and user_id != user_id.lower():
            # Names are stored lowercased; clients often send them as the user typed them.
            account = await self._accounts.get_account(user_id.lower())
        if account is None or account.password_hash is None:
            await self._passwords.verify(await self._decoy(), password)
            self._ratelimiter.record(RateLimits.LOGIN_FAILED, user_id)
            raise forbidden(_BAD_CREDENTIALS)
        if not await self._passwords.verify(account.password_hash, password):
            self._ratelimiter.record(RateLimits.LOGIN_FAILED, user_id)
            raise forbidden(_BAD_CREDENTIALS)
        if account.deactivated:
            raise MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated")
        if self._passwords.needs_rehash(account.password_hash):
            await self._accounts.set_password_hash(
                account.user_id, await self._passwords.hash(password)
            )
        return account.user_id

    async def hash_new_password(self, password: Any) -> str:
        if not isinstance(password, str):
            raise invalid_param("The password must be a string")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise invalid_param(f"The password is longer than {MAX_PASSWORD_LENGTH} characters")
        return await self._passwords.hash(password)

    async def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = await self._passwords.hash("decoy password")
        return self._decoy_hash

    # Sessions

    async def login_with_password(
        self,
        body: dict[str, Any],
        *,
        device_id: str | None,
        display_name: str | None,
        want_refresh: bool,
        ip: str | None,
    ) -> Session:
        if ip is not None:
            self._ratelimiter.check(RateLimits.LOGIN_ADDRESS, ip)
        user_id = self.user_from_identifier(body)
        self._ratelimiter.check(RateLimits.LOGIN_ACCOUNT, user_id)
        user_id = await self.check_password(user_id, body.get("password"))
        return await self.start_session(user_id, device_id, display_name, want_refresh, ip)

    async def start_session(
        self,
        user_id: str,
        device_id: str | None,
        display_name: str | None,
        want_refresh: bool,
        ip: str | None,
    ) -> Session:
        """Tokens on a new (or the named, reused) device of an existing account."""
        device_id = await self._devices.open_session_device(user_id, device_id, display_name)
        lifetime = self.refreshable_token_lifetime_ms if want_refresh else None
        tokens = await self._accounts.issue_tokens(
            user_id,
            device_id,
            access_expires_ts=_expiry(lifetime),
            with_refresh_token=want_refresh,
        )
        await self._accounts.record_device_seen(user_id, device_id, ip)
        return _session(user_id, device_id, tokens, lifetime)

    async def refresh(self, refresh_token: Any, ip: str | None) -> Session:
        if refresh_token is None:
            raise missing_param("Missing refresh_token")
        if not isinstance(refresh_token, str):
            raise invalid_param("refresh_token must be a string")
        info = await self._accounts.lookup_refresh_token(refresh_token)
        if info is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown refresh token", soft_logout=False)
        if info.expires_ts is not None and info.expires_ts <= _now_ms():
            # The device survives; logging in again with its ID resumes it (soft logout).
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Refresh token expired", soft_logout=True)
        lifetime = self.refreshable_token_lifetime_ms
        tokens = await self._accounts.rotate_refresh_token(info, _expiry(lifetime))
        await self._accounts.record_device_seen(info.user_id, info.device_id, ip)
        return _session(info.user_id, info.device_id, tokens, lifetime)

    async def logout(self, requester: TokenInfo) -> None:
        """Ends the session: its device goes, with the device's tokens and keys (logout.yaml)."""
        await self._devices.delete(requester.user_id, [requester.device_id])

    async def logout_all(self, user_id: str) -> None:
        await self._devices.delete_all(user_id)

    # Account management

    async def change_password(
        self, user_id: str, new_password: Any, *, logout_devices: bool, keep_device: str | None
    ) -> None:
        """Sets the password; with `logout_devices`, every device but `keep_device` goes."""
        password_hash = await self.hash_new_password(new_password)
        await self._accounts.set_password_hash(user_id, password_hash)
        if logout_devices:
            await self._devices.delete_all(user_id, except_device_id=keep_device)

    async def deactivate(self, user_id: str) -> None:
        """No more logins; every device is deleted, then the deactivation hooks run."""
        device_ids = await self._accounts.deactivate_account(user_id)
        await self._devices.run_deleted_hooks(user_id, device_ids)
        for hook in self.on_account_deactivated:
            # The account is deactivated whatever a follower does.
            try:
                await hook(user_id)
            except Exception:
                logger.exception("Deactivation hook %r failed for %s", hook, user_id)

def session_params(body: dict[str, Any]) -> tuple[str | None, str | None, bool, bool]:
    """The session parameters /login and /register share, type-checked: (device_id,
    initial_device_display_name, refresh_token, inhibit_login)."""
    device_id = body.get("device_id")
    if device_id is not None:
        device_id = check_device_id(device_id)
    display_name = body.get("initial_device_display_name")
    if display_name is not None and not isinstance(display_name, str):
        raise invalid_param("initial_device_display_name must be a string")
    return device_id, display_name, _flag(body, "refresh_token"), _flag(body, "inhibit_login")


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise invalid_param(f"{key} must be a boolean")
    return value


def _session(
    user_id: str, device_id: str, tokens: IssuedTokens, lifetime_ms: int | None
) -> Session:
    return Session(user_id, device_id, tokens.access_token, tokens.refresh_token, lifetime_ms)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _expiry(lifetime_ms: int | None) -> int | None:
    return None if lifetime_ms is None else _now_ms() + lifetime_ms
