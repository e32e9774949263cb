"""Rooms, members and messages for the user-data API tests, built over real HTTP where the
endpoint exists (createRoom, send) and through the server's own sender otherwise (joins)."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

from veche.services.rooms.sending import EventDraft

V3 = "/_matrix/client/v3"
_txn = itertools.count()


def q(identifier: str) -> str:
    """A path segment: IDs hold `!`, `$`, `:`, `@` and, in older formats, `/` and `+`."""
    return quote(identifier, safe="")


async def create_room(http, user, **body: Any) -> str:
    body.setdefault("preset", "public_chat")
    async with http.post(f"{V3}/createRoom", json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


async def join(homeserver, room_id: str, user) -> None:
    draft = EventDraft("m.room.member", {"membership": "join"}, user.user_id)
    await homeserver.sender.send(room_id, user.user_id, draft)


async def send_text(http, user, room_id: str, text: str = "hello", **content: Any) -> str:
    path = f"{V3}/rooms/{q(room_id)}/send/m.room.message/t{next(_txn)}"
    body = {"msgtype": "m.text", "body": text, **content}
    async with http.put(path, json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def call(http, method: str, path: str, user=None, json: Any = None, data: bytes | None = None):
    """(status, JSON body) of one request."""
    headers = dict(user.headers) if user is not None else {}
    async with http.request(method, V3 + path, json=json, data=data, headers=headers) as response:
        return response.status, await response.json()
