"""Joining, inviting, leaving, forgetting, kicking, banning and knocking over HTTP."""

from __future__ import annotations

from urllib.parse import quote

import pytest

V3 = "/_matrix/client/v3"


async def call(http, method, path, user=None, body=None, status=200, errcode=None):
    headers = user.headers if user is not None else {}
    async with http.request(method, V3 + path, json=body, headers=headers) as response:
        data = await response.json()
        assert response.status == status, data
        if errcode is not None:
            assert data["errcode"] == errcode, data
        return data


async def create_room(http, user, **body):
    return (await call(http, "POST", "/createRoom", user, body))["room_id"]


async def membership_of(homeserver, room_id, user):
    event = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", user.user_id)
    return event.membership if event is not None else None


async def test_join_leave_and_joined_rooms(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    assert await call(http, "POST", f"/rooms/{room_id}/join", bob, {"reason": "hi"}) == {"room_id": room_id}
    member = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert member.content["membership"] == "join" and member.content["reason"] == "hi"
    assert (await call(http, "GET", "/joined_rooms", bob)) == {"joined_rooms": [room_id]}

    # Joining again changes nothing: no new event.
    await call(http, "POST", f"/join/{room_id}", bob, {})
    again = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert again.event_id == member.event_id

    await call(http, "POST", f"/rooms/{room_id}/leave", bob, {})
    assert await membership_of(homeserver, room_id, bob) == "leave"
    assert (await call(http, "GET", "/joined_rooms", bob)) == {"joined_rooms": []}


async def test_join_carries_the_profile(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    await call(http, "PUT", f"/profile/{quote(bob.user_id)}/displayname", bob, {"displayname": "Bobby"})
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    member = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert member.content["displayname"] == "Bobby"


async def test_join_by_alias_and_unknown_rooms(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat", room_alias_name="lobby")
    assert (await call(http, "POST", f"/join/{quote('#lobby:veche.test')}", bob, {}))["room_id"] == room_id
    await call(http, "POST", f"/join/{quote('#nowhere:veche.test')}", bob, {}, status=404, errcode="M_NOT_FOUND")
    data = await call(http, "POST", "/join/!remote:elsewhere.test?via=elsewhere.test", bob, {}, status=404)
    assert data["errcode"] == "M_NOT_FOUND" and "No known servers" in data["error"]
    await call(http, "POST", "/rooms/!unknown:veche.test/join", bob, {}, status=404, errcode="M_NOT_FOUND")
    await call(http, "POST", "/join/lobby", bob, {}, status=400, errcode="M_INVALID_PARAM")
    await call(
        http, "POST", f"/rooms/{room_id}/join", bob, {"third_party_signed": {}}, status=400, errcode="M_UNRECOGNIZED"
    )


async def test_invite_only_room(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat")
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {}, status=403, errcode="M_FORBIDDEN")
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id, "reason": "welcome"})
    invite = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert invite.membership == "invite" and invite.content["reason"] == "welcome"
    # Inviting again is a no-op success.
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id})
    again = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert again.event_id == invite.event_id
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    assert await membership_of(homeserver, room_id, bob) == "join"
    # An invite of a member is refused by the auth rules.
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id}, status=403)
    # Bad requests.
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {}, status=400, errcode="M_MISSING_PARAM")
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": "bob"}, status=400, errcode="M_INVALID_PARAM")


async def test_rejecting_an_invite(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, invite=[bob.user_id])
    await call(http, "POST", f"/rooms/{room_id}/leave", bob, {})
    assert await membership_of(homeserver, room_id, bob) == "leave"
    # Invite-only: leaving means a new invite is needed.
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {}, status=403)


async def test_kick_needs_power_and_a_member(http, homeserver, make_user):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room_id = await create_room(http, alice, preset="public_chat")
    for user in (bob, carol):
        await call(http, "POST", f"/rooms/{room_id}/join", user, {})
    await call(http, "POST", f"/rooms/{room_id}/kick", bob, {"user_id": carol.user_id}, status=403, errcode="M_FORBIDDEN")
    await call(http, "POST", f"/rooms/{room_id}/kick", alice, {"user_id": carol.user_id, "reason": "jokes"})
    kicked = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", carol.user_id)
    assert kicked.membership == "leave" and kicked.sender == alice.user_id and kicked.content["reason"] == "jokes"
    # Carol is no longer in the room; nor was dave ever.
    await call(http, "POST", f"/rooms/{room_id}/kick", alice, {"user_id": carol.user_id}, status=403)
    await call(http, "POST", f"/rooms/{room_id}/kick", alice, {"user_id": "@dave:veche.test"}, status=403)
    # Kicked from a public room, carol may come back.
    await call(http, "POST", f"/rooms/{room_id}/join", carol, {})


async def test_ban_and_unban(http, homeserver, make_user):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room_id = await create_room(http, alice, preset="public_chat")
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    await call(http, "POST", f"/rooms/{room_id}/join", carol, {})
    await call(http, "POST", f"/rooms/{room_id}/ban", carol, {"user_id": bob.user_id}, status=403)
    await call(http, "POST", f"/rooms/{room_id}/ban", alice, {"user_id": bob.user_id, "reason": "spam"})
    assert await membership_of(homeserver, room_id, bob) == "ban"
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {}, status=403, errcode="M_FORBIDDEN")
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id}, status=403)
    # /kick does not unban, and a ban of someone never in the room is fine.
    await call(http, "POST", f"/rooms/{room_id}/kick", alice, {"user_id": bob.user_id}, status=403)
    await call(http, "POST", f"/rooms/{room_id}/ban", alice, {"user_id": "@eve:veche.test"})
    await call(http, "POST", f"/rooms/{room_id}/unban", carol, {"user_id": bob.user_id}, status=403)
    await call(http, "POST", f"/rooms/{room_id}/unban", alice, {"user_id": carol.user_id}, status=403)
    await call(http, "POST", f"/rooms/{room_id}/unban", alice, {"user_id": bob.user_id})
    assert await membership_of(homeserver, room_id, bob) == "leave"
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})


async def test_forget_after_leaving(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    data = await call(http, "POST", f"/rooms/{room_id}/forget", bob, {}, status=400, errcode="M_UNKNOWN")
    assert bob.user_id in data["error"]
    await call(http, "POST", f"/rooms/{room_id}/leave", bob, {})
    await call(http, "POST", f"/rooms/{room_id}/forget", bob, {})
    assert await homeserver.membership.is_forgotten(bob.user_id, room_id)
    assert await homeserver.membership.forgotten_rooms(bob.user_id) == {room_id}
    assert not await homeserver.membership.is_forgotten(alice.user_id, room_id)
    # Joining again brings the room back.
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    assert not await homeserver.membership.is_forgotten(bob.user_id, room_id)
    assert await homeserver.membership.forgotten_rooms(bob.user_id) == set()


@pytest.mark.parametrize("version", ["7", "10", "12"])
async def test_knock_then_invite(http, homeserver, make_user, version):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(
        http, alice, room_version=version, room_alias_name="door",
        initial_state=[{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}],
    )
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {}, status=403)
    body = await call(http, "POST", f"/knock/{quote('#door:veche.test')}", bob, {"reason": "let me in"})
    assert body == {"room_id": room_id}
    knock = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert knock.membership == "knock" and knock.content["reason"] == "let me in"
    # Accepting the knock is an invite; an invitee cannot knock.
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id})
    await call(http, "POST", f"/knock/{room_id}", bob, {}, status=403)
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    assert await membership_of(homeserver, room_id, bob) == "join"


async def test_knock_needs_the_join_rule_and_room_version(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    public = await create_room(http, alice, preset="public_chat", room_version="10")
    await call(http, "POST", f"/knock/{public}", bob, {}, status=403, errcode="M_FORBIDDEN")
    old = await create_room(
        http, alice, room_version="6",
        initial_state=[{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}],
    )
    data = await call(http, "POST", f"/knock/{old}", bob, {}, status=403, errcode="M_FORBIDDEN")
    assert "knocking" in data["error"]
    await call(http, "POST", "/knock/!gone:veche.test", bob, {}, status=404)


async def test_retracting_a_knock(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(
        http, alice, initial_state=[{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}]
    )
    await call(http, "POST", f"/knock/{room_id}", bob, {})
    await call(http, "POST", f"/rooms/{room_id}/leave", bob, {})
    assert await membership_of(homeserver, room_id, bob) == "leave"


async def test_restricted_join(http, homeserver, make_user):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    space = await create_room(http, alice, preset="public_chat")
    await call(http, "POST", f"/rooms/{space}/join", bob, {})
    rule = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}
    room_id = await create_room(
        http, alice, room_version="10", initial_state=[{"type": "m.room.join_rules", "content": rule}]
    )
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    member = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert member.content["join_authorised_via_users_server"] == alice.user_id
    await call(http, "POST", f"/rooms/{room_id}/join", carol, {}, status=403, errcode="M_FORBIDDEN")


async def test_member_state_goes_through_the_same_rules(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat")
    path = f"/rooms/{room_id}/state/m.room.member/{quote(bob.user_id)}"
    await call(http, "PUT", path, bob, {"membership": "join"}, status=403)
    # A "kick" of someone who is not in the room is refused, as /kick refuses it.
    await call(http, "PUT", path, alice, {"membership": "leave"}, status=403)
    await call(http, "PUT", path, alice, {"membership": "dance"}, status=400, errcode="M_BAD_JSON")
    event_id = (await call(http, "PUT", path, alice, {"membership": "invite"}))["event_id"]
    assert (await homeserver.stores.events.get_event(event_id)).membership == "invite"
    await call(http, "PUT", path, bob, {"membership": "join", "displayname": "B"})
    member = await homeserver.stores.events.get_current_state_event(room_id, "m.room.member", bob.user_id)
    assert member.content == {"membership": "join", "displayname": "B"}
    await call(http, "PUT", f"/rooms/{room_id}/state/m.room.member/bob", alice, {"membership": "ban"}, status=400)


async def test_remote_invites_need_the_invitees_server(http, make_user):
    # The invitee's server must countersign the invite; when it cannot be reached there is no invite.
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": "@bob:elsewhere.test"}, status=502)
    members = await call(http, "GET", f"/rooms/{room_id}/members", alice)
    assert "@bob:elsewhere.test" not in {e["state_key"] for e in members["chunk"]}


async def test_requires_auth(http):
    await call(http, "GET", "/joined_rooms", status=401, errcode="M_MISSING_TOKEN")


class TestGuests:
    @pytest.fixture
    def server_settings(self) -> dict[str, str]:
        return {"VECHE_ALLOW_GUEST_ACCESS": "on"}

    async def test_guests_join_only_where_guest_access_allows(self, http, homeserver, make_user):
        alice = await make_user("alice")
        async with http.post(f"{V3}/register?kind=guest", json={}) as response:
            guest = await response.json()
        headers = {"Authorization": f"Bearer {guest['access_token']}"}
        closed = await create_room(http, alice, preset="public_chat")
        open_room = await create_room(
            http, alice, preset="public_chat",
            initial_state=[{"type": "m.room.guest_access", "content": {"guest_access": "can_join"}}],
        )
        async with http.post(f"{V3}/rooms/{closed}/join", json={}, headers=headers) as response:
            assert response.status == 403
            assert (await response.json())["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"
        async with http.post(f"{V3}/rooms/{open_room}/join", json={}, headers=headers) as response:
            assert response.status == 200
        async with http.post(f"{V3}/rooms/{open_room}/leave", json={}, headers=headers) as response:
            assert response.status == 200
        # Only the guest-access endpoints are open to guests (modules/guest_access.md).
        async with http.post(f"{V3}/join/{open_room}", json={}, headers=headers) as response:
            assert response.status == 403
