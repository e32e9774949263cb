"""Builds the aiohttp Application a listener serves, from the route modules of its resources.

Each route module exposes `routes(hs) -> list[aiohttp.web.RouteDef]`; its handlers close
over the collaborators they take from `hs` when the routes are built. To add endpoints,
write such a module and list its `routes` under the resource that serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from aiohttp import web

from veche.api import admin as synapse_admin
from veche.api import media, wellknown
from veche.api.client import (
    account,
    account_data,
    admin,
    aliases,
    appservice,
    capabilities,
    devices,
    directory,
    events,
    filters,
    hierarchy,
    key_backup,
    keys,
    legacy,
    login,
    membership,
    mutual_rooms,
    notifications,
    openid,
    presence,
    profile,
    pushers,
    pushrules,
    receipts,
    register,
    relations,
    reporting,
    rooms,
    room_summary,
    search,
    sliding_sync,
    sync,
    tags,
    thirdparty,
    to_device,
    typing,
    upgrade,
    user_directory,
    versions,
    voip,
)
from veche.api import keys as server_keys
from veche.api.federation import hierarchy as federation_hierarchy
from veche.api.federation import openid as federation_openid
from veche.api.federation import public_rooms as federation_public_rooms
from veche.api.federation import query as federation_query
from veche.api.federation import user_devices as federation_user_devices
from veche.api.federation import user_keys as federation_user_keys
from veche.api.federation import events as federation_events
from veche.api.federation import membership as federation_membership
from veche.api.federation import backfill as federation_backfill
from veche.api.federation import send as federation_send
from veche.api.federation import version as federation_version
from veche.api.federation import wellknown as server_wellknown
from veche.api.federation.auth import admission_middleware
from veche.api.media import federation as media_federation
from veche.api.http import MAX_JSON_BODY, add_cors_headers, error_middleware

if TYPE_CHECKING:
    from veche.homeserver import HomeServer

RouteModule = Callable[["HomeServer"], list[web.RouteDef]]

# Resource name (as in a listener's `resources`) → the route modules it serves.
ROUTE_MODULES: dict[str, tuple[RouteModule, ...]] = {
    "client": (
        versions.routes,
        register.routes,
        login.routes,
        account.routes,
        devices.routes,
        capabilities.routes,
        rooms.routes,
        events.routes,
        relations.routes,
        sync.routes,
        sliding_sync.routes,
        account_data.routes,
        tags.routes,
        filters.routes,
        typing.routes,
        receipts.routes,
        presence.routes,
        reporting.routes,
        wellknown.routes,
        server_wellknown.routes,
        profile.routes,
        user_directory.routes,
        hierarchy.routes,
        membership.routes,
        aliases.routes,
        directory.routes,
        upgrade.routes,
        keys.routes,
        to_device.routes,
        key_backup.routes,
        media.routes,
        pushrules.routes,
        pushers.routes,
        notifications.routes,
        search.routes,
        openid.routes,
        voip.routes,
        admin.routes,
        thirdparty.routes,
        appservice.routes,
        mutual_rooms.routes,
        legacy.routes,
        room_summary.routes,
        synapse_admin.routes,
    ),
    "federation": (
        federation_version.routes,
        server_keys.routes,
        federation_send.routes,
        federation_events.routes,
        federation_membership.routes,
        federation_backfill.routes,
        federation_query.routes,
        federation_public_rooms.routes,
        federation_hierarchy.routes,
        federation_openid.routes,
        federation_user_devices.routes,
        federation_user_keys.routes,
        media_federation.routes,
    ),
}


def build_app(hs: HomeServer, resources: Iterable[str]) -> web.Application:
    resources = set(resources)
    # Federation handlers hold their origin's slot until they return (ServerAuth.require).
    middlewares = [error_middleware, admission_middleware] if "federation" in resources else [error_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_JSON_BODY)
    for resource in sorted(resources):
        for module_routes in ROUTE_MODULES[resource]:
            app.add_routes(module_routes(hs))
    app.on_response_prepare.append(add_cors_headers)
    return app
