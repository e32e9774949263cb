"""Calls from this server to application services (application-service-api.md, "Homeserver
-> Application Service API"), authenticated by the registration's `hs_token` as a bearer
token. Only the `/_matrix/app/v1` paths are used (the legacy unprefixed ones went in v1.4).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from veche.protocol.appservice import Registration

logger = logging.getLogger(__name__)

APP_PREFIX = "/_matrix/app/v1"
TRANSACTION_TIMEOUT_SECONDS = 60.0
QUERY_TIMEOUT_SECONDS = 10.0


class AppServiceError(Exception):
    """The service could not be reached or answered with an error; `status` if it answered."""

    def __init__(
        self, message: str, status: int | None = None, body: str | None = None, *, timed_out: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.timed_out = timed_out


class AppServiceClient:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def put_transaction(self, reg: Registration, txn_id: str, body: dict[str, Any]) -> None:
        await self._call(reg, "PUT", f"/transactions/{quote(txn_id, safe='')}", body, TRANSACTION_TIMEOUT_SECONDS)

    async def query_user(self, reg: Registration, user_id: str) -> bool:
        """Whether the service says it has created the user (it answers 200 once it has)."""
        return await self._query(reg, f"/users/{quote(user_id, safe='')}")

    async def query_alias(self, reg: Registration, alias: str) -> bool:
        return await self._query(reg, f"/rooms/{quote(alias, safe='')}")

    async def ping(self, reg: Registration, transaction_id: str | None) -> None:
        body = {} if transaction_id is None else {"transaction_id": transaction_id}
        await self._call(reg, "POST", "/ping", body, QUERY_TIMEOUT_SECONDS)

    async def thirdparty(self, reg: Registration, path: str, query: dict[str, str]) -> Any:
        return await self._call(reg, "GET", path, None, QUERY_TIMEOUT_SECONDS, query)

    async def _query(self, reg: Registration, path: str) -> bool:
        try:
            await self._call(reg, "GET", path, None, QUERY_TIMEOUT_SECONDS)
        except AppServiceError as e:
            logger.info("Appservice %s query %s: %s", reg.id, path, e)
            return False
        return True

    async def _call(
        self,
        reg: Registration,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        timeout: float,
        query: dict[str, str] | None = None,
    ) -> Any:
        if reg.url is None:
            raise AppServiceError(f"appservice {reg.id} has no URL")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        data = None if body is None else orjson.dumps(body)
        headers = {"Authorization": f"Bearer {reg.hs_token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                reg.url + APP_PREFIX + path,
                data=data,
                headers=headers,
                params=query,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                raw = await response.read()
                status = response.status
        except asyncio.TimeoutError:
            raise AppServiceError(f"{reg.url} did not answer in {timeout:.0f} s", timed_out=True) from None
        except (aiohttp.ClientError, OSError) as e:
            raise AppServiceError(f"cannot reach {reg.url}: {e or type(e).__name__}") from None
        if status != 200:
            raise AppServiceError(f"{method} {path} answered {status}", status, raw.decode(errors="replace"))
        try:
            return orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise AppServiceError(f"{method} {path} answered with no JSON", status) from None
