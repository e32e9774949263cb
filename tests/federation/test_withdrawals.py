"""Two Veche servers over TLS: the room's server withdraws an invite or refuses a knock
of the other server's user, whose server keeps the invite or knock out of band; the leave
reaches it in a transaction and ends the membership there too. A leave that does not cite
the membership it would end is not believed."""

from __future__ import annotations

from veche.homeserver import HomeServer
from veche.services.federation.client import federation_path

from .room_setup import as_event, build_pdu, current_auth_events, extremities
from .test_invites import membership_of
from .test_joins import create_room
from .test_knocks import knock_room
from .test_send import wait_for


async def test_a_withdrawn_invite_ends_on_the_invitees_server(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, "12", preset="private_chat")
    await a.membership.invite(alice, room_id, bob)
    assert await membership_of(b, bob, room_id) == "invite"

    await a.membership.kick(alice, room_id, bob, reason="sent by mistake")

    async def withdrawn() -> bool:
        return await membership_of(b, bob, room_id) == "leave"

    await wait_for(withdrawn)
    member = await b.stores.events.get_current_state_event(room_id, "m.room.member", bob)
    assert member is not None and member.sender == alice and member.content["reason"] == "sent by mistake"
    assert not await b.stores.events.get_forward_extremities(room_id)


async def test_a_refused_knock_ends_on_the_knockers_server(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await knock_room(a, alice)
    await b.membership.knock(bob, room_id, via=[a.server_name])
    assert await membership_of(b, bob, room_id) == "knock"

    await a.membership.kick(alice, room_id, bob)

    async def refused() -> bool:
        return await membership_of(b, bob, room_id) == "leave"

    await wait_for(refused)


async def test_a_leave_not_citing_the_invite_is_not_believed(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await create_room(a, alice, "12", preset="private_chat")
    await a.membership.invite(alice, room_id, bob)
    invite = await a.stores.events.get_current_state_event(room_id, "m.room.member", bob)
    assert invite is not None
    room_version = invite.room_version
    content = {"membership": "leave"}
    auth = [e for e in await current_auth_events(a, room_id, "m.room.member", alice, content, bob)
            if e.event_id != invite.event_id]
    pdu = build_pdu(a.signing_key, a.server_name, room_version, room_id, "m.room.member", alice, content,
                    prev_events=await extremities(a, room_id), auth_events=auth, state_key=bob,
                    origin_server_ts=a.sender.now_ms())
    leave = as_event(pdu, room_version)

    answer = await a.federation.client.put_json(
        b.server_name, federation_path("/_matrix/federation/v1/send/{}", "not-citing"),
        {"origin": a.server_name, "origin_server_ts": a.sender.now_ms(), "pdus": [pdu]},
    )

    assert "error" in answer["pdus"][leave.event_id]
    assert await membership_of(b, bob, room_id) == "invite"
