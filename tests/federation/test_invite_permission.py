"""Invite permission across servers (modules/invite_permission.md): a server refuses
invites v1 and v2 of a user who blocks invites with 403 M_INVITE_BLOCKED before signing
them, the inviting server relays that refusal, and createRoom on the inviting server still
creates the room."""

from __future__ import annotations

import pytest

from veche.errors import MatrixError
from veche.homeserver import HomeServer
from veche.protocol.event_ids import compute_event_id
from veche.protocol.hashing import add_hashes_and_signatures
from veche.services.federation.client import FederationHttpError, federation_path

from .test_invites import membership_of
from .test_joins import create_room

BLOCK = {"default_action": "block"}


async def block_invites(hs: HomeServer, user_id: str, content: dict) -> None:
    await hs.user_data.account_data.set_account_data(user_id, None, "m.invite_permission_config", content)


async def test_a_blocked_invite_v2_is_refused_and_relayed(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, "11", preset="private_chat")
    await block_invites(b, bob, BLOCK)

    with pytest.raises(MatrixError) as refused:
        await a.membership.invite(alice, room_id, bob)

    assert (refused.value.status, refused.value.errcode) == (403, "M_INVITE_BLOCKED")
    assert await membership_of(b, bob, room_id) is None
    assert await a.stores.events.get_current_state_event(room_id, "m.room.member", bob) is None

    await block_invites(b, bob, {})
    await a.membership.invite(alice, room_id, bob)
    assert await membership_of(b, bob, room_id) == "invite"


async def test_create_room_with_a_blocked_remote_invitee(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    await block_invites(b, bob, BLOCK)

    with pytest.raises(MatrixError) as refused:
        await a.room_creator.create_room(alice, {"preset": "private_chat", "invite": [bob]})

    assert refused.value.errcode == "M_INVITE_BLOCKED"
    room_id = refused.value.extra["room_id"]
    assert await membership_of(a, alice, room_id) == "join"
    assert await membership_of(b, bob, room_id) is None


async def test_invite_v1(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, "1", preset="private_chat")
    pdu, event_id = await v1_invite(a, room_id, alice, bob)
    path = federation_path("/_matrix/federation/v1/invite/{}/{}", room_id, event_id)

    await block_invites(b, bob, BLOCK)
    with pytest.raises(FederationHttpError) as refused:
        await a.federation.client.put_json(b.server_name, path, pdu)
    assert (refused.value.status, refused.value.errcode) == (403, "M_INVITE_BLOCKED")
    assert await membership_of(b, bob, room_id) is None

    await block_invites(b, bob, {})
    answer = await a.federation.client.put_json(b.server_name, path, pdu)
    assert answer[0] == 200 and set(answer[1]["event"]["signatures"]) == {a.server_name, b.server_name}
    assert await membership_of(b, bob, room_id) == "invite"
    kept = await b.stores.events.get_event(event_id)
    assert kept is not None and kept.pdu["unsigned"]["invite_room_state"][0]["type"] == "m.room.create"


async def v1_invite(a: HomeServer, room_id: str, sender: str, target: str) -> tuple[dict, str]:
    """An invite as a room version 1 server sends it: event ID chosen by the sender,
    the preview in `unsigned`."""
    room_version = await a.stores.rooms.get_room_version(room_id)
    state_ids = await a.stores.state.get_current_state_ids(room_id)
    pdu = await a.federation_membership.template(
        room_id, room_version, sender, target, {"membership": "invite"}, state_ids
    )
    pdu.pop("origin", None)
    pdu["event_id"] = f"$invitev1:{a.server_name}"
    add_hashes_and_signatures(pdu, room_version, a.server_name, a.signing_key)
    create = await a.stores.events.get_current_state_event(room_id, "m.room.create", "")
    pdu["unsigned"] = {"invite_room_state": [{k: create.pdu[k] for k in ("type", "state_key", "sender", "content")}]}
    return pdu, compute_event_id(pdu, room_version)
