"""Asking another server for events this server lacks (server-server-api.md, "Retrieving
events", "Retrieving event authorisation information", "Backfilling and retrieving
missing events").

`RemoteEvents` only speaks the protocol and checks the answers' shape; what the receiver
does with the PDUs (verifying, authorising, persisting) is `receiver.PduReceiver`'s job.
Every answer is bounded: a peer cannot make this server read an unlimited list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from veche.services.federation.client import BadFederationResponse, FederationClient, federation_path

EVENT_PATH = "/_matrix/federation/v1/event/{}"
EVENT_AUTH_PATH = "/_matrix/federation/v1/event_auth/{}/{}"
STATE_IDS_PATH = "/_matrix/federation/v1/state_ids/{}"
MISSING_EVENTS_PATH = "/_matrix/federation/v1/get_missing_events/{}"
BACKFILL_PATH = "/_matrix/federation/v1/backfill/{}"

# More than any sane room's state or auth chain at one event; a larger answer is refused.
MAX_LISTED_EVENTS = 50_000
FETCH_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class StateIdsAt:
    """The answer of /state_ids: the room state at an event (before it) and its auth chain."""

    pdu_ids: list[str]
    auth_chain_ids: list[str]


class RemoteEvents:
    def __init__(self, client: FederationClient) -> None:
        self._client = client

    async def get_event(self, destination: str, event_id: str) -> dict[str, Any]:
        answer = await self._client.get_json(
            destination, federation_path(EVENT_PATH, event_id), timeout=FETCH_TIMEOUT_SECONDS
        )
        pdus = _pdu_list(destination, answer, "pdus")
        if len(pdus) != 1:
            raise BadFederationResponse(destination, f"/event/{event_id} did not return one PDU")
        return pdus[0]

    async def get_event_auth(self, destination: str, room_id: str, event_id: str) -> list[dict[str, Any]]:
        answer = await self._client.get_json(
            destination, federation_path(EVENT_AUTH_PATH, room_id, event_id), timeout=FETCH_TIMEOUT_SECONDS
        )
        return _pdu_list(destination, answer, "auth_chain")

    async def get_state_ids(self, destination: str, room_id: str, event_id: str) -> StateIdsAt:
        answer = await self._client.get_json(
            destination,
            federation_path(STATE_IDS_PATH, room_id),
            {"event_id": event_id},
            timeout=FETCH_TIMEOUT_SECONDS,
        )
        return StateIdsAt(
            _id_list(destination, answer, "pdu_ids"), _id_list(destination, answer, "auth_chain_ids")
        )

    async def get_missing_events(
        self,
        destination: str,
        room_id: str,
        *,
        earliest: Iterable[str],
        latest: Iterable[str],
        limit: int,
        min_depth: int,
    ) -> list[dict[str, Any]]:
        answer = await self._client.post_json(
            destination,
            federation_path(MISSING_EVENTS_PATH, room_id),
            {
                "earliest_events": sorted(earliest),
                "latest_events": sorted(latest),
                "limit": limit,
                "min_depth": min_depth,
            },
            timeout=FETCH_TIMEOUT_SECONDS,
        )
        return _pdu_list(destination, answer, "events")[:limit]

    async def backfill(
        self, destination: str, room_id: str, from_ids: Iterable[str], limit: int, *, timeout: float
    ) -> list[dict[str, Any]]:
        """Up to `limit` events of the room at and before `from_ids`, as `destination` has them."""
        answer = await self._client.get_json(
            destination,
            federation_path(BACKFILL_PATH, room_id),
            {"v": sorted(from_ids), "limit": limit},
            timeout=timeout,
        )
        return _pdu_list(destination, answer, "pdus")[:limit]


def _pdu_list(destination: str, answer: Any, key: str) -> list[dict[str, Any]]:
    entries = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(entries, list) or len(entries) > MAX_LISTED_EVENTS:
        raise BadFederationResponse(destination, f"answer lacks a bounded '{key}' list")
    return [entry for entry in entries if isinstance(entry, dict)]


def _id_list(destination: str, answer: Any, key: str) -> list[str]:
    entries = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(entries, list) or len(entries) > MAX_LISTED_EVENTS:
        raise BadFederationResponse(destination, f"answer lacks a bounded '{key}' list")
    return [entry for entry in entries if isinstance(entry, str)]
