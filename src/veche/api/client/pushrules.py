"""Push rules (modules/push.md "Push Rules: API", data/api/client-server/pushrules.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import MatrixError, missing_param

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"
RULE = V3 + "/pushrules/global/{kind}/{ruleId}"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    rules = hs.push_rules

    async def get_all(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(await rules.get_all(requester.user_id))

    async def get_global(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response((await rules.get_all(requester.user_id))["global"])

    async def get_kind(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        return json_response(await rules.get_kind(requester.user_id, request.match_info["kind"]))

    async def get_rule(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        rule = await rules.get_rule(requester.user_id, request.match_info["kind"], request.match_info["ruleId"])
        return json_response(rule.to_json(requester.user_id))

    async def put_rule(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        await rules.put_rule(
            requester.user_id,
            request.match_info["kind"],
            request.match_info["ruleId"],
            body,
            before=request.query.get("before"),
            after=request.query.get("after"),
        )
        return json_response({})

    async def delete_rule(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        await rules.delete_rule(requester.user_id, request.match_info["kind"], request.match_info["ruleId"])
        return json_response({})

    async def get_enabled(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        rule = await rules.get_rule(requester.user_id, request.match_info["kind"], request.match_info["ruleId"])
        return json_response({"enabled": rule.enabled})

    async def put_enabled(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        if "enabled" not in body:
            raise missing_param("enabled is required")
        if not isinstance(body["enabled"], bool):
            raise MatrixError(400, "M_INVALID_PARAM", "enabled must be a boolean")
        await rules.set_enabled(
            requester.user_id, request.match_info["kind"], request.match_info["ruleId"], body["enabled"]
        )
        return json_response({})

    async def get_actions(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        rule = await rules.get_rule(requester.user_id, request.match_info["kind"], request.match_info["ruleId"])
        return json_response({"actions": rule.to_json(requester.user_id)["actions"]})

    async def put_actions(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request)
        body = await read_json_body(request)
        if "actions" not in body:
            raise missing_param("actions is required")
        await rules.set_actions(
            requester.user_id, request.match_info["kind"], request.match_info["ruleId"], body["actions"]
        )
        return json_response({})

    return [
        web.get(V3 + "/pushrules/", get_all),
        web.get(V3 + "/pushrules", get_all),
        web.get(V3 + "/pushrules/global/", get_global),
        web.get(V3 + "/pushrules/global/{kind}/", get_kind),
        web.get(RULE, get_rule),
        web.put(RULE, put_rule),
        web.delete(RULE, delete_rule),
        web.get(RULE + "/enabled", get_enabled),
        web.put(RULE + "/enabled", put_enabled),
        web.get(RULE + "/actions", get_actions),
        web.put(RULE + "/actions", put_actions),
    ]
