"""GET /_matrix/client/versions (client-server-api/_index.md, "API Versions")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from veche.api.http import CLIENT_PREFIX, json_response

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

# A version is listed once every endpoint and rule it requires is served, deprecated ones
# included (the deprecation policy makes them part of the versions that still list them),
# so a client trusting this list is never surprised; tests/api/test_spec_coverage.py fails
# when a spec endpoint is neither routed nor deliberately left out. What is left out are
# optional modules and optional endpoints, each answered as the spec says a server without
# them answers: the OAuth 2.0 API (404 M_UNRECOGNIZED on /auth_metadata, legacy login in
# use), SSO login, login tokens for other devices (m.get_login_token off), third-party
# identifiers (m.3pid_changes off), account locking and suspension (no m.account_moderation),
# application services and bridges (none registered: no third-party protocols), and the
# support and policy-server well-known documents. The Invite permission module (v1.18) is
# enforced: see docs/architecture.md "Invite permission".
SUPPORTED_VERSIONS: tuple[str, ...] = tuple(f"v1.{minor}" for minor in range(1, 20))

# Only features actually served are flagged: simplified sliding sync (MSC4186), which
# Element X requires.
UNSTABLE_FEATURES: dict[str, bool] = {"org.matrix.simplified_msc3575": True}


def routes(hs: HomeServer) -> list[web.RouteDef]:
    body = {"versions": list(SUPPORTED_VERSIONS), "unstable_features": UNSTABLE_FEATURES}

    async def get_versions(request: web.Request) -> web.Response:
        return json_response(body)

    return [web.get(f"{CLIENT_PREFIX}/versions", get_versions)]
