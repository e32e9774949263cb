"""Account registration (registration.yaml, registration_tokens.yaml).

Who may register is the config's `registration` mode: `open` offers the `m.login.dummy`
flow, `token` the `m.login.registration_token` flow, `closed` refuses with 403. Guests
register without UIA when `allow_guest_access` is on.
"""

from __future__ import annotations

import logging
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from veche.errors import MatrixError, forbidden, invalid_param, missing_param
from veche.protocol.appservice import Registration as AppServiceRegistration
from veche.protocol.identifiers import MAX_IDENTIFIER_BYTES, is_valid_localpart
from veche.services.auth import AuthService, Session, session_params
from veche.services.ratelimit import RateLimiter, RateLimits
from veche.services.uia import DUMMY, REGISTRATION_TOKEN, StageContext, UserInteractiveAuth
from veche.storage.accounts import AccountStore, RegistrationTokenUnusable, UserIdTaken
from veche.storage.registration_tokens import RegistrationTokenStore

logger = logging.getLogger(__name__)

REGISTER_ACTION = "POST /register"
# The opaque-identifier limit the spec sets for registration tokens.
MAX_REGISTRATION_TOKEN_LENGTH = 64
_RANDOM_LOCALPART_LENGTH = 12

AccountHook = Callable[[str], Awaitable[None]]
# Raises (400 M_EXCLUSIVE) if the user ID is reserved for someone other than the
# application service named (None: an ordinary registration).
UserIdCheck = Callable[[str, str | None], None]


@dataclass(frozen=True, slots=True)
class Registration:
    user_id: str
    # None when the client asked for no login (inhibit_login).
    session: Session | None


class RegistrationService:
    def __init__(
        self,
        server_name: str,
        mode: str,
        allow_guests: bool,
        accounts: AccountStore,
        tokens: RegistrationTokenStore,
        auth: AuthService,
        uia: UserInteractiveAuth,
        ratelimiter: RateLimiter,
    ) -> None:
        self.server_name = server_name
        self.mode = mode
        self.allow_guests = allow_guests
        self._accounts = accounts
        self._tokens = tokens
        self._auth = auth
        self._uia = uia
        self._ratelimiter = ratelimiter
        # Each called with the new user ID once the account exists (profiles, for one).
        self.on_registered: list[AccountHook] = []
        self.user_id_checks: list[UserIdCheck] = []
        uia.add_stage(REGISTRATION_TOKEN, self._check_registration_token)

    def flows(self) -> list[list[str]]:
        if self.mode == "open":
            return [[DUMMY]]
        if self.mode == "token":
            return [[REGISTRATION_TOKEN]]
        return []

    async def check_username(self, username: Any) -> str:
        """The user ID `username` would get, or 400 M_INVALID_USERNAME / M_USER_IN_USE."""
        user_id = self._user_id_for(username)
        for check in self.user_id_checks:
            check(user_id, None)
        if await self._accounts.user_id_exists(user_id):
            raise MatrixError(400, "M_USER_IN_USE", "This user ID is already taken")
        return user_id

    async def register_user(self, body: dict[str, Any], ip: str | None) -> Registration:
        if self.mode == "closed":
            raise forbidden("Registration is disabled on this server")
        self._ratelimiter.check(RateLimits.REGISTRATION, ip or "", consume=False)
        # Checked before UIA, as the spec requires, so that no one completes
        # authentication only to learn that the name was never available.
        username = body.get("username")
        user_id = None if username is None else await self.check_username(username)
        password = body.get("password")
        if password is not None and not isinstance(password, str):
            raise invalid_param("password must be a string")
        device_id, display_name, want_refresh, inhibit_login = session_params(body)

        completed = await self._uia.check(body, None, self.flows(), REGISTER_ACTION)
        if password is None:
            raise missing_param("Missing password")
        password_hash = await self._auth.hash_new_password(password)
        token = completed.get(REGISTRATION_TOKEN)
        if user_id is None:
            user_id = await self._create_with_random_id(password_hash, token, is_guest=False)
        else:
            await self._create(user_id, password_hash, token, is_guest=False)
        self._ratelimiter.record(RateLimits.REGISTRATION, ip or "")
        await self._run_hooks(user_id)
        if inhibit_login:
            return Registration(user_id, None)
        session = await self._auth.start_session(
            user_id, device_id, display_name, want_refresh, ip
        )
        return Registration(user_id, session)

    async def register_by_admin(self, user_id: str, password_hash: str | None, *, is_admin: bool) -> None:
        """An account a server admin creates (the admin API): no UIA and no token, but the
        user ID must be one registration could have given."""
        if self._user_id_for(user_id[1:].partition(":")[0]) != user_id:
            raise MatrixError(400, "M_INVALID_USERNAME", f"{user_id} is not a valid user ID for this server")
        try:
            await self._accounts.create_account(user_id, password_hash, is_admin=is_admin)
        except UserIdTaken:
            raise MatrixError(400, "M_USER_IN_USE", "This user ID is already taken") from None
        await self._run_hooks(user_id)

    async def register_appservice_user(
        self, appservice: AppServiceRegistration, body: dict[str, Any], ip: str | None
    ) -> Registration:
        """`m.login.application_service` (application-service-api.md, "Server admin style
        permissions"): a passwordless user in the service's users namespace, without UIA."""
        user_id = self._user_id_for(body.get("username"))
        if not appservice.is_user_interesting(user_id, self.server_name):
            raise MatrixError(400, "M_EXCLUSIVE", f"{user_id} is not in the application service's namespace")
        for check in self.user_id_checks:
            check(user_id, appservice.id)
        device_id, display_name, want_refresh, inhibit_login = session_params(body)
        await self._create(user_id, None, None, is_guest=False)
        await self._run_hooks(user_id)
        if inhibit_login:
            return Registration(user_id, None)
        session = await self._auth.start_session(user_id, device_id, display_name, want_refresh, ip)
        return Registration(user_id, session)

    async def register_guest(self, body: dict[str, Any], ip: str | None) -> Registration:
        if not self.allow_guests:
            raise forbidden("Guest access is disabled on this server")
        self._ratelimiter.check(RateLimits.REGISTRATION, ip or "")
        # The spec has the server ignore everything but the device's display name.
        display_name = body.get("initial_device_display_name")
        if not isinstance(display_name, str):
            display_name = None
        user_id = await self._create_with_random_id(None, None, is_guest=True)
        await self._run_hooks(user_id)
        session = await self._auth.start_session(user_id, None, display_name, False, ip)
        return Registration(user_id, session)

    async def token_validity(self, token: str) -> bool:
        if self.mode == "closed":
            raise forbidden("Registration is disabled on this server")
        if self.mode != "token":
            return False
        found = await self._tokens.get(token)
        return found is not None and found.is_usable(_now_ms())

    async def _check_registration_token(self, auth: dict[str, Any], ctx: StageContext) -> str:
        token = auth.get("token")
        if not isinstance(token, str) or not await self.token_validity(token):
            raise MatrixError(401, "M_UNAUTHORIZED", "Invalid registration token")
        return token

    def _user_id_for(self, username: Any) -> str:
        if not isinstance(username, str):
            raise MatrixError(400, "M_INVALID_USERNAME", "username must be a string")
        # New user names are lowercase (appendices.md, "User Identifiers"); the spec lets
        # the server map a name onto the grammar, and lowercasing is the expected mapping.
        localpart = username.lower()
        if not is_valid_localpart(localpart):
            raise MatrixError(
                400,
                "M_INVALID_USERNAME",
                "User names may only contain a-z, 0-9 and the characters . _ = - / +",
            )
        if localpart.isdigit():
            raise MatrixError(400, "M_INVALID_USERNAME", "Numeric user names are for guests")
        user_id = f"@{localpart}:{self.server_name}"
        if len(user_id.encode()) > MAX_IDENTIFIER_BYTES:
            raise MatrixError(400, "M_INVALID_USERNAME", "The user ID would be too long")
        return user_id

    async def _create(
        self, user_id: str, password_hash: str | None, token: str | None, *, is_guest: bool
    ) -> None:
        try:
            await self._accounts.create_account(
                user_id, password_hash, is_guest=is_guest, registration_token=token
            )
        except UserIdTaken:
            raise MatrixError(400, "M_USER_IN_USE", "This user ID is already taken") from None
        except RegistrationTokenUnusable:
            raise forbidden("The registration token has expired or been used up") from None

    async def _create_with_random_id(
        self, password_hash: str | None, token: str | None, *, is_guest: bool
    ) -> str:
        while True:
            # Numeric localparts are kept for guests, so a guest is recognisable by name.
            if is_guest:
                localpart = str(secrets.randbelow(10**_RANDOM_LOCALPART_LENGTH))
            else:
                localpart = "u" + "".join(
                    secrets.choice(string.ascii_lowercase + string.digits)
                    for _ in range(_RANDOM_LOCALPART_LENGTH)
                )
            user_id = f"@{localpart}:{self.server_name}"
            try:
                await self._create(user_id, password_hash, token, is_guest=is_guest)
            except MatrixError as e:
                if e.errcode != "M_USER_IN_USE":
                    raise
                continue
            return user_id

    async def _run_hooks(self, user_id: str) -> None:
        for hook in self.on_registered:
            try:
                await hook(user_id)
            except Exception:
                logger.exception("Registration hook %r failed for %s", hook, user_id)


def _now_ms() -> int:
    return int(time.time() * 1000)
