"""Pushers and delivery to push gateways (push-gateway-api.md, pusher.yaml).

Each notification for a user with pushers is posted to each pusher's gateway from a
background task, so slow gateways never hold up the event that caused the push. A failed
post is retried with exponential back-off for a bounded time (push-gateway-api.md: "SHOULD
retry for a reasonable amount of time using exponential backoff"); pushkeys the gateway
reports as `rejected` lose their pushers at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from veche.errors import MatrixError, missing_param
from veche.protocol.events import Event
from veche.protocol.push_rules import Action, is_highlight, tweaks
from veche.storage.accounts import TokenInfo
from veche.storage.events import EventStore
from veche.storage.pushers import Pusher, PusherStore

logger = logging.getLogger(__name__)

NOTIFY_PATH = "/_matrix/push/v1/notify"
MAX_PUSHKEY_BYTES = 512
MAX_APP_ID_CHARS = 64
HTTP_KIND = "http"

UnreadCount = Callable[[str], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay: float = 1.0
    max_delay: float = 300.0
    # Past this many attempts a notification is dropped (about an hour with the defaults).
    max_attempts: int = 16
    timeout: float = 30.0


class PusherService:
    def __init__(
        self,
        store: PusherStore,
        *,
        events: EventStore,
        unread_count: UnreadCount,
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._events = events
        self._unread_count = unread_count
        # Public so an operator (or a test) can tune the back-off.
        self.retry = retry
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # user ID → pushers, for users who have any: one dict lookup per recipient.
        self._by_user: dict[str, list[Pusher]] | None = None

    async def start(self) -> None:
        await self._load_all()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_pushers(self, user_id: str) -> list[dict[str, Any]]:
        return [_pusher_json(p) for p in await self._store.for_user(user_id)]

    async def set_pusher(self, requester: TokenInfo, body: dict[str, Any]) -> None:
        """POST /pushers/set."""
        for name in ("app_id", "pushkey"):
            if not isinstance(body.get(name), str):
                raise missing_param(f"Missing or invalid parameter: {name}")
        if "kind" not in body:
            raise missing_param("Missing parameter: kind")
        app_id, pushkey, kind = body["app_id"], body["pushkey"], body["kind"]
        if kind is None:
            await self._store.delete(requester.user_id, app_id, pushkey)
            await self._load_all()
            return
        if len(pushkey.encode()) > MAX_PUSHKEY_BYTES:
            raise MatrixError(400, "M_INVALID_PARAM", "pushkey is longer than 512 bytes")
        if len(app_id) > MAX_APP_ID_CHARS:
            raise MatrixError(400, "M_INVALID_PARAM", "app_id is longer than 64 characters")
        missing = [n for n in ("app_display_name", "device_display_name", "lang", "data") if n not in body]
        if missing:
            raise missing_param(f"Missing parameters: {', '.join(missing)}")
        if kind != HTTP_KIND:
            # Email pushers need an outgoing mail set-up this server does not have.
            raise MatrixError(400, "M_INVALID_PARAM", f"Unsupported pusher kind {kind!r}")
        data = body["data"]
        if not isinstance(data, dict):
            raise MatrixError(400, "M_INVALID_PARAM", "data must be an object")
        _check_url(data.get("url"))
        for name in ("app_display_name", "device_display_name", "lang"):
            if not isinstance(body[name], str):
                raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be a string")
        profile_tag = body.get("profile_tag")
        if profile_tag is not None and not isinstance(profile_tag, str):
            raise MatrixError(400, "M_INVALID_PARAM", "profile_tag must be a string")
        await self._store.upsert(
            user_id=requester.user_id,
            device_id=requester.device_id,
            kind=kind,
            app_id=app_id,
            pushkey=pushkey,
            app_display_name=body["app_display_name"],
            device_display_name=body["device_display_name"],
            profile_tag=profile_tag,
            lang=body["lang"],
            data=data,
            pushkey_ts=int(self._clock()),
            append=body.get("append") is True,
        )
        await self._load_all()

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        """A deleted device (logout, DELETE /devices, deactivation) stops receiving pushes:
        its pushers go with it, as its access tokens do."""
        if await self._store.delete_for_devices(user_id, device_ids):
            await self._load_all()

    def has_pushers(self, user_id: str) -> bool:
        return bool(self._by_user and user_id in self._by_user)

    async def notify(self, event: Event, recipients: dict[str, tuple[Action, ...]]) -> None:
        """Queue a push of `event` to each pusher of each recipient (actions say notify)."""
        if self._by_user is None:
            await self._load_all()
        assert self._by_user is not None
        targets = [(user_id, actions) for user_id, actions in recipients.items() if user_id in self._by_user]
        if not targets:
            return
        details = await self._event_details(event)
        for user_id, actions in targets:
            for pusher in self._by_user.get(user_id, ()):
                self._spawn(self._deliver(pusher, event, actions, details))

    async def wait_idle(self) -> None:
        """Wait until every queued delivery has finished (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, pusher: Pusher, event: Event, actions: tuple[Action, ...], details: dict[str, Any]) -> None:
        payload = {"notification": await self._notification(pusher, event, actions, details)}
        url = pusher.data["url"]
        delay = self.retry.first_delay
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                rejected = await self._post(url, payload)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                logger.info("Push to %s failed (attempt %d): %s", url, attempt, e)
            else:
                if pusher.pushkey in rejected:
                    logger.info("Gateway %s rejected pushkey of %s; removing the pusher", url, pusher.user_id)
                    await self._store.delete_pushkeys(pusher.app_id, rejected, url)
                    await self._load_all()
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry.max_delay)
        logger.warning("Giving up pushing %s to %s", event.event_id, url)

    async def _post(self, url: str, payload: dict[str, Any]) -> list[str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.retry.timeout))
        async with self._session.post(url, json=payload) as response:
            if response.status != 200:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=f"HTTP {response.status}"
                )
            body = await response.json(content_type=None)
        rejected = body.get("rejected", []) if isinstance(body, dict) else []
        return [k for k in rejected if isinstance(k, str)] if isinstance(rejected, list) else []

    async def _notification(
        self, pusher: Pusher, event: Event, actions: tuple[Action, ...], details: dict[str, Any]
    ) -> dict[str, Any]:
        unread = await self._unread_count(pusher.user_id)
        device = {
            "app_id": pusher.app_id,
            "pushkey": pusher.pushkey,
            "pushkey_ts": pusher.pushkey_ts,
            # pusher.yaml: forward all of `data` except `url`.
            "data": {k: v for k, v in pusher.data.items() if k != "url"},
            "tweaks": tweaks(actions),
        }
        notification: dict[str, Any] = {
            "event_id": event.event_id,
            "room_id": event.room_id,
            "counts": {"unread": unread} if unread else {},
            "devices": [device],
        }
        if pusher.data.get("format") == "event_id_only":
            return notification
        prio = "high" if is_highlight(actions) or "sound" in device["tweaks"] else "low"
        notification.update(
            {"type": event.type, "sender": event.sender, "prio": prio, "content": event.content}
        )
        notification.update({k: v for k, v in details.items() if v is not None})
        if event.type == "m.room.member":
            notification["user_is_target"] = event.state_key == pusher.user_id
        return notification

    async def _event_details(self, event: Event) -> dict[str, Any]:
        """What a full-format push shows besides the event: names of the sender and room."""
        room_id = event.room_id
        member = await self._events.get_current_state_event(room_id, "m.room.member", event.sender)
        name = await self._events.get_current_state_event(room_id, "m.room.name")
        alias = await self._events.get_current_state_event(room_id, "m.room.canonical_alias")
        return {
            "sender_display_name": _string(member, "displayname"),
            "room_name": _string(name, "name"),
            "room_alias": _string(alias, "alias"),
        }

    async def _load_all(self) -> None:
        by_user: dict[str, list[Pusher]] = {}
        for pusher in await self._store.all():
            by_user.setdefault(pusher.user_id, []).append(pusher)
        self._by_user = by_user


def _string(event: Event | None, key: str) -> str | None:
    value = event.content.get(key) if event is not None else None
    return value if isinstance(value, str) and value else None


def _check_url(url: Any) -> None:
    if not isinstance(url, str):
        raise missing_param("data.url is required for http pushers")
    parts = urlsplit(url)
    # pusher.yaml asks for HTTPS; plain HTTP is accepted for gateways on private networks.
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.path != NOTIFY_PATH:
        raise MatrixError(400, "M_INVALID_PARAM", f"data.url must be an HTTP(S) URL with path {NOTIFY_PATH}")


def _pusher_json(pusher: Pusher) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pushkey": pusher.pushkey,
        "kind": pusher.kind,
        "app_id": pusher.app_id,
        "app_display_name": pusher.app_display_name,
        "device_display_name": pusher.device_display_name,
        "lang": pusher.lang,
        "data": pusher.data,
    }
    if pusher.profile_tag is not None:
        out["profile_tag"] = pusher.profile_tag
    return out
