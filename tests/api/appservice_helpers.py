"""A small application service for API tests: an aiohttp server on a free port that
records the transactions, queries and pings the homeserver sends it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

AS_TOKEN = "as-token-bridge"
HS_TOKEN = "hs-token-bridge"


class FakeAppService:
    def __init__(self) -> None:
        self.transactions: list[tuple[str, dict[str, Any]]] = []
        self.queried_users: list[str] = []
        self.queried_aliases: list[str] = []
        self.pings: list[dict[str, Any]] = []
        # Status codes answered to the next transactions (then 200).
        self.fail_next: list[int] = []
        self.bad_auth: list[str] = []
        self.on_user_query: Callable[[str], Any] | None = None
        self.on_alias_query: Callable[[str], Any] | None = None
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeAppService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_put("/_matrix/app/v1/transactions/{txnId}", self._transaction)
        app.router.add_get("/_matrix/app/v1/users/{userId}", self._user)
        app.router.add_get("/_matrix/app/v1/rooms/{alias}", self._alias)
        app.router.add_post("/_matrix/app/v1/ping", self._ping)
        app.router.add_get("/_matrix/app/v1/thirdparty/protocol/{protocol}", self._protocol)
        app.router.add_get("/_matrix/app/v1/thirdparty/location/{protocol}", self._locations)
        app.router.add_get("/_matrix/app/v1/thirdparty/user", self._users)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def events(self) -> list[dict[str, Any]]:
        return [event for _, body in self.transactions for event in body.get("events", [])]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    def _authorised(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") != f"Bearer {HS_TOKEN}":
            self.bad_auth.append(request.path)
            return False
        return True

    async def _transaction(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        body = await request.json()
        if self.fail_next:
            return web.json_response({"errcode": "M_UNKNOWN"}, status=self.fail_next.pop(0))
        async with self._changed:
            self.transactions.append((request.match_info["txnId"], body))
            self._changed.notify_all()
        return web.json_response({})

    async def _user(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        user_id = request.match_info["userId"]
        self.queried_users.append(user_id)
        if self.on_user_query is not None and await self.on_user_query(user_id):
            return web.json_response({})
        return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)

    async def _alias(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        alias = request.match_info["alias"]
        self.queried_aliases.append(alias)
        if self.on_alias_query is not None and await self.on_alias_query(alias):
            return web.json_response({})
        return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)

    async def _ping(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        self.pings.append(await request.json())
        return web.json_response({})


    async def _protocol(self, request: web.Request) -> web.Response:
        if not self._authorised(request) or request.match_info["protocol"] != "irc":
            return web.json_response({"errcode": "M_NOT_FOUND"}, status=404)
        return web.json_response(IRC_PROTOCOL)

    async def _locations(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        channel = request.query.get("channel", "")
        return web.json_response(
            [{"alias": f"#bridge_{channel}:veche.test", "protocol": "irc", "fields": dict(request.query)}]
        )

    async def _users(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        return web.json_response(
            [{"userid": request.query["userid"], "protocol": "irc", "fields": {"nick": "remote"}}]
        )


IRC_PROTOCOL = {
    "user_fields": ["network", "nickname"],
    "location_fields": ["network", "channel"],
    "icon": "mxc://example.org/irc",
    "field_types": {
        "network": {"regexp": "([a-z0-9]+\\.)*[a-z0-9]+", "placeholder": "irc.example.org"},
        "nickname": {"regexp": "[^\\s#]+", "placeholder": "username"},
        "channel": {"regexp": "#[^\\s]+", "placeholder": "#foobar"},
    },
    "instances": [
        {"desc": "Example", "icon": "mxc://example.org/e", "fields": {"network": "example"}, "network_id": "example"}
    ],
}


def write_registration(path: Path, url: str | None, **extra: Any) -> Path:
    registration = {
        "id": "bridge",
        "url": url,
        "as_token": AS_TOKEN,
        "hs_token": HS_TOKEN,
        "sender_localpart": "bridgebot",
        "namespaces": {
            "users": [{"exclusive": True, "regex": "@bridge_.*:veche\\.test"}],
            "aliases": [{"exclusive": True, "regex": "#bridge_.*:veche\\.test"}],
            "rooms": [],
        },
        "rate_limited": False,
        **extra,
    }
    path.write_text(yaml.safe_dump(registration), encoding="utf-8")
    return path
