"""A thin Client-Server API client that counts every failed request.

Failures are never raised to the scenarios: a non-2xx answer or a transport
error is recorded in `Api.errors` and the call returns None, so one bad request
does not abort a run but still marks the scenario's figures as unusable.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

REQUEST_TIMEOUT = 90.0
_txn_counter = itertools.count()
_TXN_PREFIX = uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class User:
    user_id: str
    access_token: str


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    size: int
    seconds: float


@dataclass
class ErrorLog:
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def record(self, label: str, what: str) -> None:
        self.counts[f"{label} {what}"] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{label} {what}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Api:
    """One connection pool to one server, sized to the scenario's concurrency."""

    def __init__(self, base_url: str, concurrency: int, errors: ErrorLog) -> None:
        self.base_url = base_url
        self.errors = errors
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, force_close=False),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
        )

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        label: str,
        *,
        user: User | None = None,
        body: Any = None,
        params: dict[str, str] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> Response | None:
        """Send one request; statuses in `accept` are answers, not errors."""
        headers = {"Authorization": f"Bearer {user.access_token}"} if user else {}
        started = time.perf_counter()
        try:
            async with self._session.request(
                method, self.base_url + path, json=body, params=params, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors.record(label, type(exc).__name__)
            return None
        seconds = time.perf_counter() - started
        if not 200 <= status < 300 and status not in accept:
            self.errors.record(label, f"HTTP {status} {raw[:200].decode(errors='replace')}")
            return None
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            self.errors.record(label, "invalid JSON")
            return None
        return Response(status=status, body=parsed, size=len(raw), seconds=seconds)

    async def register(self, username: str, password: str) -> User | None:
        """Register with m.login.dummy, following a user-interactive auth session if offered."""
        body: dict[str, Any] = {
            "username": username, "password": password, "auth": {"type": "m.login.dummy"},
        }
        path = "/_matrix/client/v3/register"
        response = await self.request("POST", path, "register", body=body, accept=frozenset({401}))
        if response is not None and response.status == 401:
            session = (response.body or {}).get("session")
            if session is None:
                self.errors.record("register", "HTTP 401 without a UIA session")
                return None
            body["auth"] = {"type": "m.login.dummy", "session": session}
            response = await self.request("POST", path, "register", body=body)
        if response is None:
            return None
        return User(user_id=response.body["user_id"], access_token=response.body["access_token"])

    async def create_room(self, user: User, **content: Any) -> str | None:
        response = await self.request(
            "POST", "/_matrix/client/v3/createRoom", "createRoom", user=user, body=content
        )
        return None if response is None else response.body["room_id"]

    async def join(self, user: User, room_id: str) -> Response | None:
        return await self.request(
            "POST", f"/_matrix/client/v3/join/{quote(room_id, safe='')}", "join",
            user=user, body={},
        )

    async def send_text(self, user: User, room_id: str, text: str) -> Response | None:
        txn = f"{_TXN_PREFIX}.{next(_txn_counter)}"
        path = (f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}"
                f"/send/m.room.message/{txn}")
        return await self.request(
            "PUT", path, "send", user=user, body={"msgtype": "m.text", "body": text}
        )

    async def sync(
        self,
        user: User,
        since: str | None = None,
        timeout_ms: int = 0,
        filter_json: dict[str, Any] | None = None,
    ) -> Response | None:
        params = {"timeout": str(timeout_ms)}
        if since is not None:
            params["since"] = since
        if filter_json is not None:
            params["filter"] = orjson.dumps(filter_json).decode()
        return await self.request("GET", "/_matrix/client/v3/sync", "sync", user=user, params=params)

    async def messages(
        self, user: User, room_id: str, from_token: str | None, limit: int
    ) -> Response | None:
        params = {"dir": "b", "limit": str(limit)}
        if from_token is not None:
            params["from"] = from_token
        return await self.request(
            "GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/messages", "messages",
            user=user, params=params,
        )
