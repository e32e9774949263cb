"""A small Matrix client over plain client-server HTTP calls, the same for both servers.

It registers like any client (the `m.login.dummy` stage, with a UIA session when the
server asks for one), keeps a /sync position and remembers what each sync brought, so a
test can wait until something has arrived on either side.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

PASSWORD = "interop password"
WAIT_TIMEOUT_S = 15.0
SYNC_POLL_MS = 1000

T = TypeVar("T")


class MatrixError(Exception):
    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status
        self.errcode = body.get("errcode") if isinstance(body, dict) else None
        self.body = body


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@dataclass
class SyncedRoom:
    """What /sync has brought about one room, in arrival order."""

    timeline: list[dict[str, Any]] = field(default_factory=list)
    state: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    membership: str | None = None

    def bodies(self) -> list[str]:
        return [
            event["content"].get("body")
            for event in self.timeline
            if event["type"] == "m.room.message" and "body" in event.get("content", {})
        ]


class MatrixClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, session: dict[str, Any]) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.user_id: str = session["user_id"]
        self.device_id: str = session["device_id"]
        self.access_token: str = session["access_token"]
        self.rooms: dict[str, SyncedRoom] = {}
        self.presence: dict[str, dict[str, Any]] = {}
        self._since: str | None = None
        self._txn = itertools.count()

    @property
    def server_name(self) -> str:
        return self.user_id.split(":", 1)[1]

    async def request(
        self, method: str, path: str, body: Any = None, params: Any = None
    ) -> Any:
        return await _call(
            self.http, method, self.base_url + path, body, params,
            {"Authorization": f"Bearer {self.access_token}"},
        )

    # Rooms and membership.

    async def create_room(self, **body: Any) -> str:
        return (await self.request("POST", "/_matrix/client/v3/createRoom", body))["room_id"]

    async def join(self, room: str, via: list[str] | None = None) -> str:
        params = [("server_name", server) for server in via or []]
        answer = await self.request("POST", f"/_matrix/client/v3/join/{quote(room)}", {}, params)
        return answer["room_id"]

    async def invite(self, room_id: str, user_id: str) -> None:
        await self._membership(room_id, "invite", user_id)

    async def kick(self, room_id: str, user_id: str, reason: str = "") -> None:
        await self._membership(room_id, "kick", user_id, reason)

    async def ban(self, room_id: str, user_id: str, reason: str = "") -> None:
        await self._membership(room_id, "ban", user_id, reason)

    async def unban(self, room_id: str, user_id: str) -> None:
        await self._membership(room_id, "unban", user_id)

    async def leave(self, room_id: str) -> None:
        await self.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/leave", {})

    async def _membership(self, room_id: str, action: str, user_id: str, reason: str = "") -> None:
        body = {"user_id": user_id, **({"reason": reason} if reason else {})}
        await self.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/{action}", body)

    # Events and state.

    async def send(self, room_id: str, body: str, event_type: str = "m.room.message") -> str:
        return await self.send_event(room_id, event_type, {"msgtype": "m.text", "body": body})

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        path = (f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{quote(event_type)}"
                f"/t{next(self._txn)}-{time.monotonic_ns()}")
        return (await self.request("PUT", path, content))["event_id"]

    async def put_state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> str:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/{quote(event_type)}/{quote(state_key)}"
        return (await self.request("PUT", path, content))["event_id"]

    async def get_state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/{quote(event_type)}/{quote(state_key)}"
        return await self.request("GET", path)

    async def set_power_level(self, room_id: str, user_id: str, level: int) -> str:
        levels = await self.get_state(room_id, "m.room.power_levels")
        levels.setdefault("users", {})[user_id] = level
        return await self.put_state(room_id, "m.room.power_levels", levels)

    async def messages(self, room_id: str, *, limit: int = 100, direction: str = "b") -> list[dict[str, Any]]:
        """The room's events as /messages pages them, oldest first, from the latest backwards."""
        params = {"dir": direction, "limit": str(limit)}
        answer = await self.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages", params=params)
        events = answer["chunk"]
        return list(reversed(events)) if direction == "b" else events

    # Ephemeral data, profiles, aliases, media.

    async def typing(self, room_id: str, typing: bool = True) -> None:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/typing/{quote(self.user_id)}"
        await self.request("PUT", path, {"typing": typing, **({"timeout": 30000} if typing else {})})

    async def receipt(self, room_id: str, event_id: str) -> None:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/receipt/m.read/{quote(event_id)}"
        await self.request("POST", path, {})

    async def set_presence(self, presence: str, status_msg: str = "") -> None:
        body = {"presence": presence, **({"status_msg": status_msg} if status_msg else {})}
        await self.request("PUT", f"/_matrix/client/v3/presence/{quote(self.user_id)}/status", body)

    async def set_displayname(self, name: str) -> None:
        await self.request("PUT", f"/_matrix/client/v3/profile/{quote(self.user_id)}/displayname", {"displayname": name})

    async def profile(self, user_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/_matrix/client/v3/profile/{quote(user_id)}")

    async def put_alias(self, alias: str, room_id: str) -> None:
        await self.request("PUT", f"/_matrix/client/v3/directory/room/{quote(alias)}", {"room_id": room_id})

    async def resolve_alias(self, alias: str) -> dict[str, Any]:
        return await self.request("GET", f"/_matrix/client/v3/directory/room/{quote(alias)}")

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        url = f"{self.base_url}/_matrix/media/v3/upload"
        headers = {"Authorization": f"Bearer {self.access_token}", "Content-Type": content_type}
        async with self.http.post(url, data=data, params={"filename": filename}, headers=headers) as response:
            body = await response.json()
            if response.status != 200:
                raise MatrixError("POST", "/upload", response.status, body)
        return body["content_uri"]

    async def download(self, mxc: str) -> tuple[bytes, str]:
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        url = f"{self.base_url}/_matrix/client/v1/media/download/{quote(server)}/{quote(media_id)}"
        headers = {"Authorization": f"Bearer {self.access_token}"}
        async with self.http.get(url, headers=headers) as response:
            data = await response.read()
            if response.status != 200:
                raise MatrixError("GET", url, response.status, data[:500])
            return data, response.headers.get("Content-Type", "")

    # /sync.

    def room(self, room_id: str) -> SyncedRoom:
        return self.rooms.setdefault(room_id, SyncedRoom())

    async def sync_once(self, timeout_ms: int = SYNC_POLL_MS) -> None:
        params = {"timeout": str(timeout_ms if self._since else 0)}
        if self._since:
            params["since"] = self._since
        answer = await self.request("GET", "/_matrix/client/v3/sync", params=params)
        self._since = answer["next_batch"]
        rooms = answer.get("rooms", {})
        for membership in ("join", "invite", "leave", "knock"):
            for room_id, section in rooms.get(membership, {}).items():
                room = self.room(room_id)
                room.membership = membership
                room.state += section.get("state", {}).get("events", [])
                room.state += section.get("invite_state", {}).get("events", [])
                room.timeline += section.get("timeline", {}).get("events", [])
                room.ephemeral += section.get("ephemeral", {}).get("events", [])
        for event in answer.get("presence", {}).get("events", []):
            self.presence[event["sender"]] = event["content"]

    async def wait_until(self, what: str, check: Callable[[], T | None], timeout: float = WAIT_TIMEOUT_S) -> T:
        """Sync until `check()` gives something truthy; return it, or fail naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id} timed out after {timeout:.0f}s waiting for {what}")
            await self.sync_once()

    async def wait_for_event(
        self, room_id: str, what: str, match: Callable[[dict[str, Any]], bool], timeout: float = WAIT_TIMEOUT_S
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((e for e in self.room(room_id).timeline if match(e)), None)

        return await self.wait_until(what, find, timeout)

    async def wait_for_body(self, room_id: str, body: str, timeout: float = WAIT_TIMEOUT_S) -> dict[str, Any]:
        return await self.wait_for_event(
            room_id, f"message {body!r} in {room_id}",
            lambda e: e["type"] == "m.room.message" and e["content"].get("body") == body, timeout,
        )

    async def wait_for_membership(self, room_id: str, membership: str, timeout: float = WAIT_TIMEOUT_S) -> None:
        await self.wait_until(
            f"{membership} in {room_id}", lambda: self.room(room_id).membership == membership, timeout
        )


async def register(http: aiohttp.ClientSession, base_url: str, localpart: str) -> MatrixClient:
    """A new account with a device, registered through the client-server API."""
    url = base_url.rstrip("/") + "/_matrix/client/v3/register"
    body: dict[str, Any] = {"username": localpart, "password": PASSWORD, "auth": {"type": "m.login.dummy"}}
    try:
        session = await _call(http, "POST", url, body)
    except MatrixError as error:
        if error.status != 401 or "session" not in error.body:
            raise
        body["auth"]["session"] = error.body["session"]
        session = await _call(http, "POST", url, body)
    return MatrixClient(http, base_url, session)


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None,
    params: Any = None, headers: dict[str, str] | None = None,
) -> Any:
    async with http.request(method, url, json=body, params=params, headers=headers) as response:
        answer = await response.json(content_type=None)
        if response.status != 200:
            raise MatrixError(method, url, response.status, answer)
        return answer


async def wait_all(*waits: Any) -> list[Any]:
    """Wait on several clients at once (each syncs on its own)."""
    return list(await asyncio.gather(*waits))
