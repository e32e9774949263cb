"""Shared set-up for the reading-side API tests: rooms, members and messages over HTTP or
straight through the server's sender."""

from __future__ import annotations

from typing import Any

from veche.homeserver import HomeServer
from veche.protocol.events import Event
from veche.services.rooms.sending import EventDraft

CLIENT = "/_matrix/client"


async def create_room(http, user, **body) -> str:
    body.setdefault("preset", "public_chat")
    async with http.post(f"{CLIENT}/v3/createRoom", json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


_txn = 0


async def send(http, user, room_id: str, body: str | dict[str, Any], event_type: str = "m.room.message") -> str:
    global _txn
    _txn += 1
    content = {"msgtype": "m.text", "body": body} if isinstance(body, str) else body
    path = f"{CLIENT}/v3/rooms/{room_id}/send/{event_type}/t{_txn}"
    async with http.put(path, json=content, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def put_state(http, user, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> str:
    path = f"{CLIENT}/v3/rooms/{room_id}/state/{event_type}/{state_key}"
    async with http.put(path, json=content, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def set_membership(hs: HomeServer, room_id: str, sender: str, target: str, membership: str) -> Event:
    draft = EventDraft("m.room.member", {"membership": membership}, state_key=target)
    return await hs.sender.send(room_id, sender, draft)


async def join(hs: HomeServer, room_id: str, user_id: str) -> Event:
    return await set_membership(hs, room_id, user_id, user_id, "join")


async def redact(http, user, room_id: str, event_id: str, reason: str | None = None) -> str:
    global _txn
    _txn += 1
    body = {"reason": reason} if reason else {}
    path = f"{CLIENT}/v3/rooms/{room_id}/redact/{event_id}/r{_txn}"
    async with http.put(path, json=body, headers=user.headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def timeline(hs: HomeServer, room_id: str) -> list[Event]:
    events = hs.stores.events
    return (await events.get_recent_room_events(room_id, 0, events.current_stream_token, 1000)).events


async def get_json(http, path: str, user, params: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with http.get(path, headers=user.headers if user else {}, params=params or {}) as response:
        return response.status, await response.json()
