"""Other servers' room aliases and published room directories, over federation:
GET /query/directory (query.yaml) and GET/POST /publicRooms (public_rooms.yaml).

These plug into the client-side seams `RemoteAliasResolver` and `RemoteDirectory`.
"""

from __future__ import annotations

from typing import Any

from veche.errors import MatrixError
from veche.protocol.identifiers import InvalidIdentifier, parse_room_alias, validate_room_id
from veche.services.federation.client import FederationClient, FederationError, FederationHttpError
from veche.services.federation.remote_errors import QUERY_TIMEOUT_SECONDS, relay_failure
from veche.services.rooms.directory import PublicRoomsQuery

DIRECTORY_QUERY = "/_matrix/federation/v1/query/directory"
PUBLIC_ROOMS = "/_matrix/federation/v1/publicRooms"


class FederatedAliasResolver:
    def __init__(self, client: FederationClient) -> None:
        self._client = client

    async def resolve(self, alias: str) -> tuple[str, list[str]] | None:
        """(room_id, servers) from the alias's server; None if it does not know the alias."""
        server = parse_room_alias(alias).server_name
        try:
            body = await self._client.get_json(
                server, DIRECTORY_QUERY, {"room_alias": alias}, timeout=QUERY_TIMEOUT_SECONDS
            )
        except FederationHttpError as e:
            if e.status == 404:
                return None
            raise relay_failure(e) from None
        except FederationError as e:
            raise relay_failure(e) from None
        room_id = body.get("room_id") if isinstance(body, dict) else None
        servers = body.get("servers") if isinstance(body, dict) else None
        try:
            validate_room_id(room_id if isinstance(room_id, str) else "")
        except InvalidIdentifier:
            raise MatrixError(502, "M_UNKNOWN", f"{server} answered with no valid room ID") from None
        if not isinstance(servers, list):
            servers = []
        known = [s for s in servers if isinstance(s, str) and s]
        # The answering server knows the room, whether or not it listed itself.
        return room_id, known if server in known else [server, *known]


class FederatedRoomDirectory:
    def __init__(self, client: FederationClient) -> None:
        self._client = client

    async def public_rooms(self, server: str, query: PublicRoomsQuery) -> dict[str, Any]:
        """Another server's published rooms; a filter needs the POST form of the endpoint."""
        try:
            if query.search_term is not None or query.room_types is not None:
                body = await self._client.post_json(
                    server, PUBLIC_ROOMS, _post_body(query), timeout=QUERY_TIMEOUT_SECONDS
                )
            else:
                body = await self._client.get_json(
                    server, PUBLIC_ROOMS, _get_query(query), timeout=QUERY_TIMEOUT_SECONDS
                )
        except FederationError as e:
            raise relay_failure(e) from None
        if not isinstance(body, dict) or not isinstance(body.get("chunk"), list):
            raise MatrixError(502, "M_UNKNOWN", f"{server} sent a room directory without a chunk")
        return body


def _get_query(query: PublicRoomsQuery) -> dict[str, str | int]:
    params: dict[str, str | int] = {}
    if query.limit is not None:
        params["limit"] = query.limit
    if query.since is not None:
        params["since"] = query.since
    if query.third_party_instance_id is not None:
        params["third_party_instance_id"] = query.third_party_instance_id
    return params


def _post_body(query: PublicRoomsQuery) -> dict[str, Any]:
    body: dict[str, Any] = dict(_get_query(query))
    filter_: dict[str, Any] = {}
    if query.search_term is not None:
        filter_["generic_search_term"] = query.search_term
    if query.room_types is not None:
        filter_["room_types"] = list(query.room_types)
    body["filter"] = filter_
    return body

