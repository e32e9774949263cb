"""Login, refresh and logout (login.yaml, refresh.yaml, logout.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from veche.api.client.auth_helpers import client_ip, session_body
from veche.api.http import CLIENT_PREFIX, extract_access_token, json_response, read_json_body
from veche.errors import MatrixError, missing_param
from veche.protocol.appservice import APPSERVICE_LOGIN
from veche.services.auth import Session, session_params

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

V3 = f"{CLIENT_PREFIX}/v3"
PASSWORD_LOGIN = "m.login.password"


def routes(hs: HomeServer) -> list[web.RouteDef]:
    auth_service = hs.auth_service
    login_types = [PASSWORD_LOGIN] + ([APPSERVICE_LOGIN] if hs.appservices.registrations else [])
    flows = {"flows": [{"type": login_type} for login_type in login_types]}

    async def _appservice_login(
        request: web.Request,
        body: dict[str, Any],
        device_id: str | None,
        display_name: str | None,
        want_refresh: bool,
    ) -> Session:
        """A user of the service's namespace, logged in with its as_token
        (application-service-api.md, "Server admin style permissions")."""
        reg = hs.appservices.require_by_token(extract_access_token(request))
        user_id = auth_service.user_from_identifier(body)
        await hs.appservices.check_login(reg, user_id)
        ip = client_ip(request)
        return await auth_service.start_session(user_id, device_id, display_name, want_refresh, ip)

    well_known = {"m.homeserver": {"base_url": hs.config.public_baseurl}}

    async def get_login(request: web.Request) -> web.Response:
        return json_response(flows)

    async def login(request: web.Request) -> web.Response:
        body = await read_json_body(request)
        login_type = body.get("type")
        if login_type is None:
            raise missing_param("Missing type")
        if login_type not in (PASSWORD_LOGIN, APPSERVICE_LOGIN):
            raise MatrixError(400, "M_UNKNOWN", f"Unknown login type {login_type!r}")
        device_id, display_name, want_refresh, _ = session_params(body)
        if login_type == APPSERVICE_LOGIN:
            session = await _appservice_login(request, body, device_id, display_name, want_refresh)
        else:
            session = await auth_service.login_with_password(
                body,
                device_id=device_id,
                display_name=display_name,
                want_refresh=want_refresh,
                ip=client_ip(request),
            )
        response = session_body(session)
        response["home_server"] = hs.config.server_name
        if hs.config.public_baseurl:
            response["well_known"] = well_known
        return json_response(response)

    async def refresh(request: web.Request) -> web.Response:
        body = await read_json_body(request)
        session = await auth_service.refresh(body.get("refresh_token"), client_ip(request))
        response = session_body(session)
        del response["user_id"], response["device_id"]
        return json_response(response)

    async def logout(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        await auth_service.logout(requester)
        return json_response({})

    async def logout_all(request: web.Request) -> web.Response:
        requester = await hs.auth.require(request, allow_guest=True)
        await auth_service.logout_all(requester.user_id)
        return json_response({})

    return [
        web.get(f"{V3}/login", get_login),
        web.post(f"{V3}/login", login),
        web.post(f"{V3}/refresh", refresh),
        web.post(f"{V3}/logout", logout),
        web.post(f"{V3}/logout/all", logout_all),
    ]
