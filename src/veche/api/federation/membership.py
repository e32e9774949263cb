"""Membership handshakes other servers make with this one: make_join/send_join (v1 and
v2), make_leave/send_leave (v1 and v2), make_knock/send_knock, invite (v1 and v2), and the
third-party invite exchange, which this server refuses (joins-v1.yaml, joins-v2.yaml,
leaving-v1.yaml, leaving-v2.yaml, knocks.yaml, invites-v1.yaml, invites-v2.yaml,
third_party_invite.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.federation.auth import read_federation_body
from veche.errors import MatrixError, bad_json
from veche.protocol.canonical_json import encode_canonical_json
from veche.services.federation.origin_limits import RequestKind

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"


def _json(obj: Any) -> web.Response:
    # Events of room versions 1-5 may hold integers orjson cannot write.
    return web.Response(body=encode_canonical_json(obj, strict=False), content_type="application/json")


def routes(hs: HomeServer) -> list[web.RouteDef]:
    requests = hs.federation_membership

    def make(membership: str, *, versions_required: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            origin = await hs.server_auth.require(request)
            supported: list[str] | None = request.query.getall("ver", [])
            if not supported:
                # joins-v1.yaml: without `ver` the joining server supports only version 1;
                # make_leave has no `ver` at all.
                supported = None if membership == "leave" else ["1"]
                if versions_required:
                    raise MatrixError(400, "M_MISSING_PARAM", "ver is required")
            answer = await requests.make(
                origin, request.match_info["roomId"], request.match_info["userId"], membership, supported
            )
            return _json(answer)

        return handler

    async def received(request: web.Request, membership: str) -> Any:
        # A join's answer is the room's whole state and auth chain.
        kind = RequestKind.EXPENSIVE if membership == "join" else RequestKind.QUERY
        origin = await hs.server_auth.require(request, kind)
        body = await read_federation_body(request)
        if not isinstance(body, dict):
            raise bad_json("The body must be the signed event")
        return await requests.send(
            origin, request.match_info["roomId"], request.match_info["eventId"], body, membership
        )

    async def send_join_v1(request: web.Request) -> web.Response:
        join = await received(request, "join")
        answer = await requests.join_answer(join)
        return _json([200, {"origin": answer["origin"], "state": answer["state"], "auth_chain": answer["auth_chain"]}])

    async def send_join_v2(request: web.Request) -> web.Response:
        join = await received(request, "join")
        return _json(await requests.join_answer(join))

    async def send_leave_v1(request: web.Request) -> web.Response:
        await received(request, "leave")
        return _json([200, {}])

    async def send_leave_v2(request: web.Request) -> web.Response:
        await received(request, "leave")
        return _json({})

    async def send_knock(request: web.Request) -> web.Response:
        knock = await received(request, "knock")
        return _json({"knock_room_state": await requests.knock_room_state(knock.room_id)})

    async def invite_v1(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request)
        body = await read_federation_body(request)
        if not isinstance(body, dict):
            raise bad_json("The body must be the invite event")
        unsigned = body.get("unsigned")
        invite_state = unsigned.get("invite_room_state") if isinstance(unsigned, dict) else None
        # invites-v1.yaml: the room version is "1" or "2", whose events have one format.
        answer = await hs.federation_invites.receive_invite(
            origin,
            request.match_info["roomId"],
            request.match_info["eventId"],
            {"room_version": "1", "event": body, "invite_room_state": invite_state},
        )
        return _json([200, answer])

    async def invite_v2(request: web.Request) -> web.Response:
        origin = await hs.server_auth.require(request)
        body = await read_federation_body(request)
        answer = await hs.federation_invites.receive_invite(
            origin, request.match_info["roomId"], request.match_info["eventId"], body
        )
        return _json(answer)

    async def exchange_third_party_invite(request: web.Request) -> web.Response:
        await hs.server_auth.require(request)
        raise MatrixError(403, "M_FORBIDDEN", "This server does not accept third-party invites")

    return [
        web.get(V1 + "/make_join/{roomId}/{userId}", make("join", versions_required=False)),
        web.put(V1 + "/send_join/{roomId}/{eventId}", send_join_v1),
        web.put(V2 + "/send_join/{roomId}/{eventId}", send_join_v2),
        web.get(V1 + "/make_leave/{roomId}/{userId}", make("leave", versions_required=False)),
        web.put(V1 + "/send_leave/{roomId}/{eventId}", send_leave_v1),
        web.put(V2 + "/send_leave/{roomId}/{eventId}", send_leave_v2),
        web.get(V1 + "/make_knock/{roomId}/{userId}", make("knock", versions_required=True)),
        web.put(V1 + "/send_knock/{roomId}/{eventId}", send_knock),
        web.put(V1 + "/invite/{roomId}/{eventId}", invite_v1),
        web.put(V2 + "/invite/{roomId}/{eventId}", invite_v2),
        web.put(V1 + "/exchange_third_party_invite/{roomId}", exchange_third_party_invite),
    ]
