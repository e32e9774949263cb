"""Every Client-Server endpoint of the spec (/work/shared/spec/data/api/client-server) is
routed, except the few deliberately not served below, which must answer as an unserved
endpoint does. A new spec endpoint, or a lost route, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
import yaml

from veche.api.app import build_app
from veche.homeserver import HomeServer

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "spec" / "data" / "api" / "client-server"
METHODS = ("get", "put", "post", "delete")

# Endpoints deliberately not served. Each answers 404 M_UNRECOGNIZED, which the spec's
# M_UNRECOGNIZED entry says is "expected ... if the endpoint is not implemented"; the
# comment gives what makes leaving it out acceptable.
NOT_SERVED: dict[tuple[str, str], str] = {
    # OAuth 2.0 API: "the server SHOULD respond with 404 and an M_UNRECOGNIZED error code
    # if the corresponding API is not supported" (_index.md, "Authentication API discovery").
    ("GET", "/_matrix/client/v1/auth_metadata"): "no OAuth 2.0 API",
    # SSO is an optional module; GET /login offers no m.login.sso flow, so no client is sent here.
    ("GET", "/_matrix/client/v3/login/sso/redirect"): "no SSO",
    ("GET", "/_matrix/client/v3/login/sso/redirect/{idpId}"): "no SSO",
    # "Optional endpoint - the server is not required to implement this endpoint";
    # the m.get_login_token capability says it is off.
    ("POST", "/_matrix/client/v1/login/get_token"): "optional, capability disabled",
    # Server Administration is an optional module; without the m.account_moderation
    # capability clients do not offer locking or suspending.
    ("GET", "/_matrix/client/v1/admin/suspend/{userId}"): "no account suspension",
    ("PUT", "/_matrix/client/v1/admin/suspend/{userId}"): "no account suspension",
    ("GET", "/_matrix/client/v1/admin/lock/{userId}"): "no account locking",
    ("PUT", "/_matrix/client/v1/admin/lock/{userId}"): "no account locking",
    # "this endpoint is not necessarily handled by the homeserver"; its 404 means "no
    # server support information available".
    ("GET", "/.well-known/matrix/support"): "no support contacts configured",
    # Published by a policy server, not a homeserver ("not necessarily handled by the
    # homeserver or Policy Server").
    ("GET", "/.well-known/matrix/policy_server"): "not a policy server",
}


def spec_endpoints() -> set[tuple[str, str]]:
    endpoints = set()
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        api = yaml.safe_load(path.read_text())
        base = api["servers"][0]["variables"]["basePath"]["default"]
        for route, operations in api["paths"].items():
            # inviting.yaml writes "/rooms/{roomId}/invite " to tell its two forms apart.
            for method in operations.keys() & set(METHODS):
                endpoints.add((method.upper(), base + route.strip()))
    return endpoints


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_spec_files_are_found() -> None:
    endpoints = spec_endpoints()
    assert ("GET", "/_matrix/client/v3/sync") in endpoints and len(endpoints) > 150


async def test_every_spec_endpoint_is_routed(homeserver: HomeServer) -> None:
    app = build_app(homeserver, ["client"])
    routed = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path is not None:
            routed.add((route.method, _shape(path)))
    not_served = {(method, _shape(path)) for method, path in NOT_SERVED}
    missing = sorted(
        f"{method} {path}"
        for method, path in spec_endpoints()
        if (method, _shape(path)) not in routed and (method, _shape(path)) not in not_served
    )
    assert missing == []
    # An allow-listed endpoint that is served after all should leave the list.
    assert sorted(f"{m} {p}" for m, p in not_served if (m, p) in routed) == []
    assert {(m, _shape(p)) for m, p in NOT_SERVED} <= {(m, _shape(p)) for m, p in spec_endpoints()}


@pytest.mark.parametrize(("method", "path"), sorted(NOT_SERVED))
async def test_not_served_endpoints_answer_unrecognized(http: aiohttp.ClientSession, make_user, method, path) -> None:
    alice = await make_user("alice")
    concrete = re.sub(r"\{[^}]*\}", "x", path)
    async with http.request(method, concrete, headers=alice.headers, json={}) as response:
        assert response.status == 404
        assert (await response.json())["errcode"] == "M_UNRECOGNIZED"
