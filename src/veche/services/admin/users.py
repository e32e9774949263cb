"""Accounts as a server admin sees them: listing, querying, creating and modifying,
deactivating, resetting passwords, the admin flag (Synapse's user admin API).

The listing is filtered by user ID in SQL and by display name, ordered and paged here,
because profiles are stored as one JSON object per user; an admin listing of a
homeserver's accounts is rare and small enough for that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from veche.errors import invalid_param, not_found
from veche.protocol.profiles import AVATAR_URL, DISPLAYNAME
from veche.services.auth import AuthService
from veche.services.devices import DeviceService
from veche.services.profile import ProfileService
from veche.services.registration import RegistrationService
from veche.storage.accounts import Account, AccountStore
from veche.storage.admin_accounts import AccountAdminStore, AccountSummary

# Synapse's order_by values that Veche has data for; the rest of its columns are constant here.
ORDER_KEYS = {
    "name": lambda a: a.user_id,
    "is_guest": lambda a: a.is_guest,
    "admin": lambda a: a.is_admin,
    "user_type": lambda a: None,
    "deactivated": lambda a: a.deactivated,
    "shadow_banned": lambda a: False,
    "locked": lambda a: False,
    "displayname": lambda a: a.profile.get(DISPLAYNAME),
    "avatar_url": lambda a: a.profile.get(AVATAR_URL),
    "creation_ts": lambda a: a.created_ts,
    "last_seen_ts": lambda a: a.last_seen_ts,
}


@dataclass(frozen=True, slots=True)
class UserQuery:
    """The filters and the page of a listing (query parameters of GET /v2/users)."""

    start: int = 0
    limit: int = 100
    guests: bool = True
    deactivated: bool = False
    admins: bool | None = None
    user_id: str | None = None
    name: str | None = None
    order_by: str = "name"
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class UserChanges:
    """What a PUT /v2/users/{userId} asks for; None leaves a setting as it is."""

    password: str | None = None
    logout_devices: bool = True
    displayname: str | None = None
    set_displayname: bool = False
    avatar_url: str | None = None
    set_avatar_url: bool = False
    admin: bool | None = None
    deactivated: bool | None = None


class UserAdmin:
    def __init__(
        self,
        server_name: str,
        accounts: AccountStore,
        admin_store: AccountAdminStore,
        auth: AuthService,
        devices: DeviceService,
        profiles: ProfileService,
        registration: RegistrationService,
    ) -> None:
        self._server_name = server_name
        self._accounts = accounts
        self._store = admin_store
        self._auth = auth
        self._devices = devices
        self._profiles = profiles
        self._registration = registration

    async def list_users(self, query: UserQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of the accounts matching `query`, and how many match in all."""
        found = await self._store.list_accounts(
            user_id_contains=query.user_id, guests=query.guests, deactivated=query.deactivated
        )
        if query.admins is not None:
            found = [a for a in found if a.is_admin == query.admins]
        if query.name:
            needle = query.name.lower()
            found = [a for a in found if needle in a.user_id.lower() or needle in _displayname(a).lower()]
        found.sort(key=_order_key(query.order_by), reverse=query.reverse)
        page = found[query.start : query.start + query.limit]
        return [_summary_json(a) for a in page], len(found)

    async def get_user(self, user_id: str) -> dict[str, Any]:
        account = await self.require_account(user_id)
        profile = await self._profiles.get_profile(user_id)
        return _account_json(account, profile)

    async def put_user(self, user_id: str, changes: UserChanges) -> bool:
        """Creates the account (True) or changes it (False)."""
        self._require_local(user_id)
        account = await self._accounts.get_account(user_id)
        password_hash = None if changes.password is None else await self._auth.hash_new_password(changes.password)
        if account is None:
            await self._registration.register_by_admin(user_id, password_hash, is_admin=bool(changes.admin))
            await self._change_profile(user_id, changes)
            if changes.deactivated:
                await self._auth.deactivate(user_id)
            return True
        if changes.deactivated is False and account.deactivated:
            if password_hash is None and account.password_hash is None:
                raise invalid_param("Must provide a password to re-activate an account")
            await self._store.reactivate(user_id)
        if password_hash is not None:
            await self._accounts.set_password_hash(user_id, password_hash)
            if changes.logout_devices:
                await self._devices.delete_all(user_id)
        if changes.admin is not None:
            await self._store.set_admin(user_id, changes.admin)
        if changes.deactivated and not account.deactivated:
            await self._auth.deactivate(user_id)
        else:
            await self._change_profile(user_id, changes)
        return False

    async def deactivate(self, user_id: str) -> None:
        await self.require_account(user_id)
        await self._auth.deactivate(user_id)

    async def reset_password(self, user_id: str, password: Any, *, logout_devices: bool) -> None:
        await self.require_account(user_id)
        await self._auth.change_password(user_id, password, logout_devices=logout_devices, keep_device=None)

    async def is_admin(self, user_id: str) -> bool:
        return (await self.require_account(user_id)).is_admin

    async def set_admin(self, requester: str, user_id: str, is_admin: bool) -> None:
        await self.require_account(user_id)
        if user_id == requester and not is_admin:
            # Otherwise the last admin could leave the server without any.
            raise invalid_param("You may not demote yourself")
        await self._store.set_admin(user_id, is_admin)

    async def require_account(self, user_id: str) -> Account:
        """The local user's account: 400 M_INVALID_PARAM for a remote user, 404 if there is none."""
        self._require_local(user_id)
        account = await self._accounts.get_account(user_id)
        if account is None:
            raise not_found("User not found")
        return account

    def _require_local(self, user_id: str) -> None:
        if not user_id.endswith(":" + self._server_name) or not user_id.startswith("@"):
            raise invalid_param("Only local users can be administered here")

    async def _change_profile(self, user_id: str, changes: UserChanges) -> None:
        if changes.set_displayname:
            await self._profiles.set_by_admin(user_id, DISPLAYNAME, changes.displayname)
        if changes.set_avatar_url:
            await self._profiles.set_by_admin(user_id, AVATAR_URL, changes.avatar_url)


def _order_key(order_by: str) -> Any:
    value_of = ORDER_KEYS[order_by]

    def key(account: AccountSummary) -> tuple[Any, ...]:
        # Missing values sort last going forwards, as PostgreSQL orders NULLs; ties by user ID.
        value = value_of(account)
        return (value is None, 0 if value is None else value, account.user_id)

    return key


def _displayname(account: AccountSummary) -> str:
    name = account.profile.get(DISPLAYNAME)
    return name if isinstance(name, str) else ""


def _summary_json(account: AccountSummary) -> dict[str, Any]:
    return {
        "name": account.user_id,
        "is_guest": account.is_guest,
        "admin": account.is_admin,
        "user_type": None,
        "deactivated": account.deactivated,
        "erased": False,
        "shadow_banned": False,
        "displayname": account.profile.get(DISPLAYNAME),
        "avatar_url": account.profile.get(AVATAR_URL),
        # In seconds, as Synapse stores and returns it (tools such as synapse-admin convert it).
        "creation_ts": account.created_ts // 1000,
        "approved": True,
        "locked": False,
        "last_seen_ts": account.last_seen_ts,
    }


def _account_json(account: Account, profile: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": account.user_id,
        "displayname": profile.get(DISPLAYNAME),
        "avatar_url": profile.get(AVATAR_URL),
        # Veche binds no third-party identifiers and has no external login providers.
        "threepids": [],
        "external_ids": [],
        "is_guest": account.is_guest,
        "admin": account.is_admin,
        "deactivated": account.deactivated,
        "erased": False,
        "shadow_banned": False,
        "locked": False,
        "suspended": False,
        "approved": True,
        "creation_ts": account.created_ts // 1000,
        "appservice_id": None,
        "consent_server_notice_sent": None,
        "consent_version": None,
        "consent_ts": None,
        "user_type": None,
    }
