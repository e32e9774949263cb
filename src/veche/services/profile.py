"""Profiles (client-server-api/_index.md "Profiles", profile.yaml) and what follows from them.

A change of displayname or avatar_url is carried into every room the user is joined to
by a new m.room.member join event ("Events on Change of Profile Information"), sent a
bounded number of rooms at a time. A user's profile changes one request at a time, the
propagation included, so the last change is also the last member event in every room.

`get_profile(user_id)` gives the fields a member event carries, for whoever builds one
(room creation, joins, invites).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from veche.errors import MatrixError, bad_json, forbidden, missing_param, not_found
from veche.protocol.identifiers import InvalidIdentifier, parse_user_id
from veche.protocol.profiles import (
    DISPLAYNAME,
    MEMBER_EVENT_FIELDS,
    InvalidProfileField,
    check_key,
    check_profile_size,
    clears_field,
    member_event_fields,
    normalize_value,
)
from veche.services.appservices.registry import AppServices
from veche.services.keyed_lock import KeyedLock
from veche.services.rooms.sending import EventDraft, EventSender
from veche.services.user_directory import UserDirectory
from veche.storage.accounts import AccountStore, TokenInfo
from veche.storage.events import EventStore
from veche.storage.profiles import ProfileStore
from veche.storage.rooms import RoomStore

logger = logging.getLogger(__name__)

# Member events sent at once when a profile change reaches many rooms.
PROPAGATION_CONCURRENCY = 8
# Only meaningful on the join that used it; a later member event must not repeat it, as
# it would need the authorising server's signature again.
_JOIN_AUTHORISER = "join_authorised_via_users_server"

ProfileHook = Callable[[str, dict[str, str]], Awaitable[None]]


class RemoteProfiles(Protocol):
    async def lookup(self, user_id: str) -> dict[str, Any]:
        """The profile of a user of another server, from that server."""
        ...


class ProfileService:
    def __init__(
        self,
        *,
        server_name: str,
        accounts: AccountStore,
        store: ProfileStore,
        directory: UserDirectory,
        sender: EventSender,
        rooms: RoomStore,
        events: EventStore,
        remote: RemoteProfiles | None = None,
        appservices: AppServices | None = None,
    ) -> None:
        self._server_name = server_name
        self._remote = remote
        # Asked about users of their namespaces this server does not know yet.
        self._appservices = appservices
        self._accounts = accounts
        self._store = store
        self._directory = directory
        self._sender = sender
        self._rooms = rooms
        self._events = events
        self._user_locks = KeyedLock()
        # Each called with (user_id, member-event fields) after a displayname or avatar
        # change has reached the user's rooms (presence announces the new values).
        self.on_member_fields_changed: list[ProfileHook] = []

    async def get_profile(self, user_id: str) -> dict[str, str]:
        """The displayname and avatar_url to put in the user's member events."""
        return member_event_fields(await self._store.get(user_id))

    async def lookup(self, user_id: str) -> dict[str, Any]:
        """GET /profile/{userId}: every field; a remote user's as their server gives it."""
        if self._remote is not None and _server_of(user_id) != self._server_name:
            return await self._remote.lookup(user_id)
        return await self.lookup_local(user_id)

    async def lookup_local(self, user_id: str) -> dict[str, Any]:
        """Every field of a user of this server; 404 for anyone else."""
        await self._require_account(user_id)
        return await self._store.get(user_id)

    async def lookup_field(self, user_id: str, key: str) -> dict[str, Any]:
        profile = await self.lookup(user_id)
        if key not in profile:
            raise not_found(f"{user_id} has no profile field {key}")
        return {key: profile[key]}

    async def set_field(self, requester: TokenInfo, user_id: str, key: str, body: dict[str, Any]) -> None:
        self._check_may_change(requester, user_id, key)
        if key not in body:
            raise missing_param(f"Missing {key}")
        if len(body) != 1:
            raise bad_json(f"The body must hold exactly one property, {key}")
        try:
            value = normalize_value(key, body[key])
        except InvalidProfileField as e:
            raise MatrixError(400, e.errcode, str(e)) from None
        if clears_field(key, value):
            await self.delete_field(requester, user_id, key)
            return
        await self._change(user_id, key, lambda profile: {**profile, key: value})

    async def delete_field(self, requester: TokenInfo, user_id: str, key: str) -> None:
        self._check_may_change(requester, user_id, key)
        await self._change(user_id, key, lambda profile: {k: v for k, v in profile.items() if k != key})

    async def set_by_admin(self, user_id: str, key: str, value: Any) -> None:
        """A server admin sets (or, with None or "", clears) a field of a local user's profile."""
        try:
            check_key(key)
            value = None if value is None else normalize_value(key, value)
        except InvalidProfileField as e:
            raise MatrixError(400, e.errcode, str(e)) from None
        if value is None or clears_field(key, value):
            await self._change(user_id, key, lambda profile: {k: v for k, v in profile.items() if k != key})
        else:
            await self._change(user_id, key, lambda profile: {**profile, key: value})

    async def set_initial_profile(self, user_id: str) -> None:
        """A new account starts with its localpart as displayname (as Synapse does)."""
        localpart = parse_user_id(user_id).localpart
        async with self._user_locks.hold(user_id):
            profile = {DISPLAYNAME: localpart, **await self._store.get(user_id)}
            await self._store.put(user_id, profile)
            await self._directory.update(user_id, profile)

    async def clear(self, user_id: str) -> None:
        """Forget the whole profile (account deactivation); rooms are left separately."""
        async with self._user_locks.hold(user_id):
            await self._store.delete(user_id)

    def _check_may_change(self, requester: TokenInfo, user_id: str, key: str) -> None:
        if requester.user_id != user_id:
            raise forbidden("You may only change your own profile")
        try:
            check_key(key)
        except InvalidProfileField as e:
            raise MatrixError(400, e.errcode, str(e)) from None
        if requester.is_guest and key != DISPLAYNAME:
            # guest_access.md: guests may change their display name only.
            raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guests may only change their display name")

    async def _change(
        self, user_id: str, key: str, edit: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        async with self._user_locks.hold(user_id):
            before = await self._store.get(user_id)
            after = edit(before)
            try:
                check_profile_size(after)
            except InvalidProfileField as e:
                raise MatrixError(400, e.errcode, str(e)) from None
            await self._store.put(user_id, after)
            if key not in MEMBER_EVENT_FIELDS or before.get(key) == after.get(key):
                return
            fields = member_event_fields(after)
            await self._directory.update(user_id, after)
            await self._propagate(user_id, fields)
        for hook in self.on_member_fields_changed:
            try:
                await hook(user_id, fields)
            except Exception:
                logger.exception("Profile hook %r failed for %s", hook, user_id)

    async def _propagate(self, user_id: str, fields: dict[str, str]) -> None:
        room_ids = await self._rooms.get_rooms_for_user(user_id)
        await run_bounded((self._update_member_event(room_id, user_id, fields) for room_id in room_ids))

    async def _update_member_event(self, room_id: str, user_id: str, fields: dict[str, str]) -> None:
        current = await self._events.get_current_state_event(room_id, "m.room.member", user_id)
        if current is None or current.membership != "join":
            return
        dropped = (*MEMBER_EVENT_FIELDS, _JOIN_AUTHORISER)
        content = {k: v for k, v in current.content.items() if k not in dropped}
        content.update(fields)
        if content == current.content:
            return
        try:
            await self._sender.send(room_id, user_id, EventDraft("m.room.member", content, user_id))
        except MatrixError as e:
            logger.warning("Could not update %s's member event in %s: %s", user_id, room_id, e)

    async def _require_account(self, user_id: str) -> None:
        if _server_of(user_id) != self._server_name:
            raise not_found(f"No profile known for {user_id}")
        account = await self._accounts.get_account(user_id)
        if account is None and self._appservices is not None and await self._appservices.query_user(user_id):
            account = await self._accounts.get_account(user_id)
        if account is None or account.deactivated:
            raise not_found(f"No profile for {user_id}")


class DeactivationCleanup:
    """What deactivating an account does beyond the account itself: the user leaves
    every room (and declines invites and knocks), and drops out of the profile and the
    user directory (account_deactivation.yaml)."""

    def __init__(
        self, *, profiles: ProfileService, directory: UserDirectory, sender: EventSender, rooms: RoomStore
    ) -> None:
        self._profiles = profiles
        self._directory = directory
        self._sender = sender
        self._rooms = rooms

    async def __call__(self, user_id: str) -> None:
        await self._directory.remove(user_id)
        await self._profiles.clear(user_id)
        memberships = await self._rooms.get_memberships_for_user(user_id, ["join", "invite", "knock"])
        await run_bounded(self._leave(m.room_id, user_id) for m in memberships)

    async def _leave(self, room_id: str, user_id: str) -> None:
        try:
            await self._sender.send(room_id, user_id, EventDraft("m.room.member", {"membership": "leave"}, user_id))
        except MatrixError as e:
            logger.warning("Deactivated %s could not leave %s: %s", user_id, room_id, e)


def _server_of(user_id: str) -> str:
    try:
        return parse_user_id(user_id).server_name
    except InvalidIdentifier as e:
        raise MatrixError(400, "M_INVALID_PARAM", str(e)) from None


async def run_bounded(tasks: Iterable[Awaitable[None]], limit: int = PROPAGATION_CONCURRENCY) -> None:
    """Await every task, at most `limit` at a time."""
    semaphore = asyncio.Semaphore(limit)

    async def one(task: Awaitable[None]) -> None:
        async with semaphore:
            await task

    await asyncio.gather(*(one(task) for task in tasks))
