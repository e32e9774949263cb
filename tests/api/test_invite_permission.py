"""Invite permission (modules/invite_permission.md): a user whose m.invite_permission_config
has `default_action: "block"` cannot be invited (403 M_INVITE_BLOCKED on /invite, on
PUT /state/m.room.member and for createRoom's `invite` list, the room still being created),
and invites to them are held back from /sync, sliding sync and /initialSync until they lift
the block."""

from __future__ import annotations

from urllib.parse import quote

from tests.api.test_membership import call, create_room, membership_of
from tests.api.test_sliding_sync import room_list, sliding
from tests.api.test_sync import sync

CONFIG = "m.invite_permission_config"


async def set_config(http, user, content):
    await call(http, "PUT", f"/user/{quote(user.user_id)}/account_data/{CONFIG}", user, content)


def invites(body):
    return body.get("rooms", {}).get("invite", {})


async def test_invite_and_member_state_are_refused_while_blocked(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat")
    await set_config(http, bob, {"default_action": "block"})

    await call(
        http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id}, status=403, errcode="M_INVITE_BLOCKED"
    )
    await call(
        http, "PUT", f"/rooms/{room_id}/state/m.room.member/{quote(bob.user_id)}", alice,
        {"membership": "invite"}, status=403, errcode="M_INVITE_BLOCKED",
    )
    assert await membership_of(homeserver, room_id, bob) is None

    # "the same event without the default_action property" lifts the block.
    await set_config(http, bob, {})
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id})
    assert await membership_of(homeserver, room_id, bob) == "invite"


async def test_unsupported_values_do_not_block(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat")
    await set_config(http, bob, {"default_action": "allow"})
    await call(http, "POST", f"/rooms/{room_id}/invite", alice, {"user_id": bob.user_id})
    assert await membership_of(homeserver, room_id, bob) == "invite"


async def test_create_room_still_creates_the_room_and_invites_the_others(http, homeserver, make_user):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await set_config(http, bob, {"default_action": "block"})

    body = {"preset": "private_chat", "name": "Tea", "invite": [bob.user_id, carol.user_id]}
    error = await call(http, "POST", "/createRoom", alice, body, status=403, errcode="M_INVITE_BLOCKED")

    room_id = error["room_id"]
    assert await membership_of(homeserver, room_id, alice) == "join"
    assert await membership_of(homeserver, room_id, bob) is None
    assert await membership_of(homeserver, room_id, carol) == "invite"
    name = await homeserver.stores.events.get_current_state_event(room_id, "m.room.name", "")
    assert name is not None and name.content["name"] == "Tea"


async def test_sync_holds_invites_back_while_blocked_and_serves_them_after(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat", invite=[bob.user_id])
    assert room_id in invites(await sync(http, bob))

    # Blocking hides invites already in the database, on initial and incremental syncs.
    await set_config(http, bob, {"default_action": "block"})
    first = await sync(http, bob)
    assert room_id not in invites(first)
    assert invites(await sync(http, bob, since=first["next_batch"], timeout=0)) == {}

    # Lifting the block serves the held-back invite on the next incremental sync.
    await set_config(http, bob, {})
    after = await sync(http, bob, since=first["next_batch"], timeout=0)
    assert room_id in invites(after)
    assert room_id not in invites(await sync(http, bob, since=after["next_batch"], timeout=0))


async def test_sliding_sync_holds_invites_back_while_blocked(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat", invite=[bob.user_id])
    await set_config(http, bob, {"default_action": "block"})
    request = {"lists": {"invites": room_list(is_invite=True)}}

    body = await sliding(http, bob, request)
    assert body["lists"]["invites"]["count"] == 0 and room_id not in body.get("rooms", {})

    await set_config(http, bob, {})
    after = await sliding(http, bob, request, pos=body["pos"], timeout=0)
    assert after["lists"]["invites"]["count"] == 1
    assert after["rooms"][room_id]["membership"] == "invite"


async def test_legacy_initial_sync_holds_invites_back_while_blocked(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="private_chat", invite=[bob.user_id])
    await set_config(http, bob, {"default_action": "block"})
    assert (await call(http, "GET", "/initialSync", bob))["rooms"] == []
    await set_config(http, bob, {})
    rooms = (await call(http, "GET", "/initialSync", bob))["rooms"]
    assert [(r["room_id"], r["membership"]) for r in rooms] == [(room_id, "invite")]
