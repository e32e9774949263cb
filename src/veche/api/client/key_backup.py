"""Server-side key backups (key_backup.yaml): versions, and keys at three levels (all
rooms, one room, one session)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import bad_json, missing_param, not_found
from veche.services.e2ee.key_backup import parse_room_key
from veche.storage.key_backup import StoredRoomKey

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"
KEYS = f"{V3}/room_keys/keys"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    backups = hs.e2ee.key_backups

    async def create_version(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        return json_response({"version": await backups.create_version(requester.user_id, body)})

    async def get_current_version(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(await backups.get_version(requester.user_id, None))

    async def get_version(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(await backups.get_version(requester.user_id, request.match_info["version"]))

    async def update_version(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        await backups.update_version(requester.user_id, request.match_info["version"], body)
        return json_response({})

    async def delete_version(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        await backups.delete_version(requester.user_id, request.match_info["version"])
        return json_response({})

    async def put_keys(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        room_id = request.match_info.get("roomId")
        session_id = request.match_info.get("sessionId")
        if session_id is not None:
            keys = [StoredRoomKey(room_id, session_id, parse_room_key(body, "body"))]
        elif room_id is not None:
            keys = _room_keys(room_id, body)
        else:
            keys = _all_keys(body)
        return json_response(await backups.put_keys(requester.user_id, _version(request), keys))

    async def get_keys(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        room_id = request.match_info.get("roomId")
        session_id = request.match_info.get("sessionId")
        found = await backups.get_keys(requester.user_id, _version(request), room_id, session_id)
        if session_id is not None:
            if not found:
                raise not_found("Key not found")
            return json_response(found[0].key.to_json())
        rooms: dict[str, Any] = {}
        for item in found:
            rooms.setdefault(item.room_id, {"sessions": {}})["sessions"][item.session_id] = item.key.to_json()
        if room_id is not None:
            return json_response(rooms.get(room_id, {"sessions": {}}))
        return json_response({"rooms": rooms})

    async def delete_keys(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(
            await backups.delete_keys(
                requester.user_id,
                _version(request),
                request.match_info.get("roomId"),
                request.match_info.get("sessionId"),
            )
        )

    table = [
        web.post(f"{V3}/room_keys/version", create_version),
        web.get(f"{V3}/room_keys/version", get_current_version),
        web.get(f"{V3}/room_keys/version/{{version}}", get_version),
        web.put(f"{V3}/room_keys/version/{{version}}", update_version),
        web.delete(f"{V3}/room_keys/version/{{version}}", delete_version),
    ]
    for path in (KEYS, f"{KEYS}/{{roomId}}", f"{KEYS}/{{roomId}}/{{sessionId}}"):
        table += [web.put(path, put_keys), web.get(path, get_keys), web.delete(path, delete_keys)]
    return table


def _version(request: web.Request) -> str:
    version = request.query.get("version")
    if version is None:
        raise missing_param("Missing version")
    return version


def _room_keys(room_id: str, body: dict[str, Any]) -> list[StoredRoomKey]:
    sessions = body.get("sessions")
    if not isinstance(sessions, dict):
        raise bad_json("sessions must map session IDs to key data")
    return [
        StoredRoomKey(room_id, session_id, parse_room_key(data, f"sessions.{session_id}"))
        for session_id, data in sessions.items()
    ]


def _all_keys(body: dict[str, Any]) -> list[StoredRoomKey]:
    rooms = body.get("rooms")
    if not isinstance(rooms, dict):
        raise bad_json("rooms must map room IDs to their sessions")
    keys: list[StoredRoomKey] = []
    for room_id, room in rooms.items():
        if not isinstance(room, dict):
            raise bad_json(f"rooms.{room_id} must be an object")
        keys += _room_keys(room_id, room)
    return keys
