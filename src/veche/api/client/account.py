"""Account management: whoami, password change, deactivation, third-party identifiers
(whoami.yaml, password_management.yaml, account_deactivation.yaml,
administrative_contact.yaml).

No third-party identifier (email, phone) is ever bound to an account here, and the
`m.3pid_changes` capability says so: the list is always empty, adding one fails, and
removing one finds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.client.auth_helpers import optional_requester, uia_action
from veche.api.http import CLIENT_PREFIX, json_response, read_json_body
from veche.errors import MatrixError, invalid_param, missing_param
from veche.services.uia import PASSWORD

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"
PASSWORD_FLOWS = [[PASSWORD]]


def routes(hs: HomeServer) -> list[web.RouteDef]:
    auth_service = hs.auth_service
    uia = hs.uia

    async def whoami(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        body: dict[str, Any] = {"user_id": requester.user_id, "is_guest": requester.is_guest}
        # An application service acting with no device has none to report.
        if requester.device_id:
            body["device_id"] = requester.device_id
        return json_response(body)

    async def change_password(request: web.Request) -> web.Response:
        requester = await optional_requester(hs, request)
        body = await read_json_body(request)
        new_password = body.get("new_password")
        if new_password is None:
            raise missing_param("Missing new_password")
        if not isinstance(new_password, str):
            raise invalid_param("new_password must be a string")
        logout_devices = _optional(body, "logout_devices", bool, True)
        completed = await uia.check(
            body, requester, PASSWORD_FLOWS, uia_action(request)
        )
        await auth_service.change_password(
            completed[PASSWORD],
            new_password,
            logout_devices=logout_devices,
            keep_device=requester.device_id if requester is not None else None,
        )
        return json_response({})

    async def deactivate(request: web.Request) -> web.Response:
        requester = await optional_requester(hs, request)
        body = await read_json_body(request)
        _optional(body, "erase", bool, False)
        _optional(body, "id_server", str, None)
        completed = await uia.check(body, requester, PASSWORD_FLOWS, uia_action(request))
        await auth_service.deactivate(completed[PASSWORD])
        # With no identifiers bound, there was nothing to unbind: the spec's "success".
        return json_response({"id_server_unbind_result": "success"})

    async def list_threepids(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        return json_response({"threepids": []})

    async def add_threepid(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        await read_json_body(request)
        # No validation session (sid, client_secret) can exist here to prove the address.
        raise MatrixError(
            403, "M_THREEPID_AUTH_FAILED", "This server does not bind third-party identifiers"
        )

    async def bind_threepid(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        await read_json_body(request)
        raise MatrixError(400, "M_SERVER_NOT_TRUSTED", "This server trusts no identity server")

    async def remove_threepid(request: web.Request) -> web.Response:
        await hs.auth.require(request)
        await read_json_body(request)
        raise MatrixError(
            400, "M_THREEPID_NOT_FOUND", "No third-party identifier is bound to this account"
        )

    async def threepid_request_token(request: web.Request) -> web.Response:
        # account-3pid requestToken lists no security: it is answered without a token.
        await read_json_body(request)
        raise MatrixError(
            403, "M_THREEPID_DENIED", "This server does not bind third-party identifiers"
        )

    async def password_request_token(request: web.Request) -> web.Response:
        await read_json_body(request)
        raise MatrixError(
            400, "M_THREEPID_NOT_FOUND", "No account has this third-party identifier"
        )

    return [
        web.get(f"{V3}/account/whoami", whoami),
        web.post(f"{V3}/account/password", change_password),
        web.post(f"{V3}/account/deactivate", deactivate),
        web.get(f"{V3}/account/3pid", list_threepids),
        web.post(f"{V3}/account/3pid", add_threepid),
        web.post(f"{V3}/account/3pid/add", add_threepid),
        web.post(f"{V3}/account/3pid/bind", bind_threepid),
        web.post(f"{V3}/account/3pid/delete", remove_threepid),
        web.post(f"{V3}/account/3pid/unbind", remove_threepid),
        web.post(f"{V3}/account/3pid/email/requestToken", threepid_request_token),
        web.post(f"{V3}/account/3pid/msisdn/requestToken", threepid_request_token),
        web.post(f"{V3}/account/password/email/requestToken", password_request_token),
        web.post(f"{V3}/account/password/msisdn/requestToken", password_request_token),
    ]


def _optional(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key, default)
    if value is not default and not isinstance(value, kind):
        raise invalid_param(f"{key} must be a {'boolean' if kind is bool else 'string'}")
    return value
