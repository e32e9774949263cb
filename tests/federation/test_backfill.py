"""Two Veche servers over TLS: /backfill answers the given events and those before them,
nearest first, up to the limit, only to servers in the room."""

from __future__ import annotations

import pytest

from veche.homeserver import HomeServer
from veche.services.federation.client import FederationHttpError, federation_path
from veche.services.rooms.sending import EventDraft

from .test_joins import create_room


async def test_backfill_walks_back_from_the_given_events(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, "12")
    sent = [await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": f"m{i}"})) for i in range(5)]
    path = federation_path("/_matrix/federation/v1/backfill/{}", room_id)

    with pytest.raises(FederationHttpError) as outsider:
        await b.federation.client.get_json(a.server_name, path, {"v": [sent[-1].event_id], "limit": 3})
    assert outsider.value.status == 403

    await b.membership.join(bob, room_id, via=[a.server_name])
    answer = await b.federation.client.get_json(a.server_name, path, {"v": [sent[-1].event_id], "limit": 3})
    assert answer["origin"] == a.server_name
    bodies = [pdu["content"].get("body") for pdu in answer["pdus"]]
    assert bodies == ["m4", "m3", "m2"]

    whole = await b.federation.client.get_json(a.server_name, path, {"v": [sent[0].event_id], "limit": 100})
    types = [pdu["type"] for pdu in whole["pdus"]]
    assert types[0] == "m.room.message" and types[-1] == "m.room.create"
