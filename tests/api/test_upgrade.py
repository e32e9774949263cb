"""Room upgrades over HTTP, across room versions."""

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


async def state_of(homeserver, room_id):
    return {key: event.content for key, event in (await homeserver.stores.events.get_current_state(room_id)).items()}


async def test_upgrade_10_to_12(http, homeserver, make_user):
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    old = await create_room(
        http, alice, room_version="10", visibility="public", name="Pub", topic="Beer", room_alias_name="pub",
        initial_state=[{"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
    )
    await call(http, "POST", f"/rooms/{old}/join", bob, {})
    await call(http, "POST", f"/rooms/{old}/ban", alice, {"user_id": carol.user_id, "reason": "rude"})
    await call(http, "PUT", "/directory/room/" + quote("#alt:veche.test"), alice, {"room_id": old})

    new = (await call(http, "POST", f"/rooms/{old}/upgrade", alice, {"new_version": "12"}))["replacement_room"]
    new_state = await state_of(homeserver, new)
    create = await homeserver.stores.events.get_current_state_event(new, "m.room.create")
    assert new == "!" + create.event_id[1:]
    assert create.content["room_version"] == "12"
    # v12 replacements may omit predecessor.event_id (room_upgrades.md).
    assert create.content["predecessor"] == {"room_id": old}
    assert new_state[("m.room.name", "")] == {"name": "Pub"}
    assert new_state[("m.room.topic", "")]["topic"] == "Beer"
    assert new_state[("m.room.join_rules", "")] == {"join_rule": "public"}
    assert new_state[("m.room.encryption", "")] == {"algorithm": "m.megolm.v1.aes-sha2"}
    assert new_state[("m.room.member", alice.user_id)]["membership"] == "join"
    assert ("m.room.member", bob.user_id) not in new_state
    assert new_state[("m.room.member", carol.user_id)] == {"membership": "ban", "reason": "rude"}
    # Alice is a creator of the v12 room: the power levels must not name her.
    assert alice.user_id not in new_state[("m.room.power_levels", "")]["users"]
    # Aliases, canonical alias and the directory entry follow the room.
    assert await homeserver.aliases.resolve("#pub:veche.test") == new
    assert await homeserver.aliases.resolve("#alt:veche.test") == new
    assert new_state[("m.room.canonical_alias", "")] == {"alias": "#pub:veche.test"}
    assert await call(http, "GET", f"/directory/list/room/{new}") == {"visibility": "public"}
    assert await call(http, "GET", f"/directory/list/room/{old}") == {"visibility": "private"}

    old_state = await state_of(homeserver, old)
    assert old_state[("m.room.tombstone", "")] == {"body": "This room has been replaced", "replacement_room": new}
    assert old_state[("m.room.canonical_alias", "")] == {}
    levels = old_state[("m.room.power_levels", "")]
    assert levels["events_default"] == 50 and levels["invite"] == 50
    # Bob can no longer talk in the old room, but can join the new one.
    await call(http, "PUT", f"/rooms/{old}/send/m.room.message/t1", bob, {"body": "hi"}, status=403)
    await call(http, "POST", f"/rooms/{new}/join", bob, {})
    await call(http, "POST", f"/rooms/{new}/join", carol, {}, status=403)


@pytest.mark.parametrize(("old_version", "new_version"), [("1", "11"), ("9", "10"), ("11", "11")])
async def test_upgrade_keeps_predecessor_event_and_power(http, homeserver, make_user, old_version, new_version):
    alice, bob = await make_user("alice"), await make_user("bob")
    old = await create_room(http, alice, room_version=old_version, preset="private_chat", name="Old")
    await call(http, "POST", f"/rooms/{old}/invite", alice, {"user_id": bob.user_id})
    await call(http, "POST", f"/rooms/{old}/join", bob, {})
    await call(
        http, "PUT", f"/rooms/{old}/state/m.room.power_levels", alice,
        {"users": {alice.user_id: 100, bob.user_id: 50}, "state_default": 50, "events": {"m.room.tombstone": 100}},
    )
    new = (await call(http, "POST", f"/rooms/{old}/upgrade", alice, {"new_version": new_version}))["replacement_room"]
    create = await homeserver.stores.events.get_current_state_event(new, "m.room.create")
    assert create.content["room_version"] == new_version
    predecessor = create.content["predecessor"]
    assert predecessor["room_id"] == old
    assert await homeserver.stores.events.get_event(predecessor["event_id"]) is not None
    new_state = await state_of(homeserver, new)
    assert new_state[("m.room.power_levels", "")]["users"] == {alice.user_id: 100, bob.user_id: 50}
    assert new_state[("m.room.join_rules", "")] == {"join_rule": "invite"}
    assert new_state[("m.room.name", "")] == {"name": "Old"}


async def test_downgrade_from_12_keeps_the_upgrader_in_charge(http, homeserver, make_user):
    alice = await make_user("alice")
    old = await create_room(http, alice, room_version="12", name="Twelve")
    new = (await call(http, "POST", f"/rooms/{old}/upgrade", alice, {"new_version": "11"}))["replacement_room"]
    new_state = await state_of(homeserver, new)
    levels = new_state[("m.room.power_levels", "")]
    assert levels["users"][alice.user_id] >= levels["events"]["m.room.tombstone"]
    # And she can still run the new room.
    await call(http, "PUT", f"/rooms/{new}/state/m.room.topic", alice, {"topic": "still mine"})


async def test_additional_creators(http, homeserver, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    old = await create_room(http, alice, room_version="11", preset="public_chat")
    await call(http, "POST", f"/rooms/{old}/join", bob, {})
    body = {"new_version": "12", "additional_creators": [bob.user_id]}
    new = (await call(http, "POST", f"/rooms/{old}/upgrade", alice, body))["replacement_room"]
    create = await homeserver.stores.events.get_current_state_event(new, "m.room.create")
    assert create.content["additional_creators"] == [bob.user_id]
    levels = await homeserver.stores.events.get_current_state_event(new, "m.room.power_levels")
    assert bob.user_id not in levels.content["users"]
    await call(http, "POST", f"/rooms/{new}/join", bob, {})
    # A creator of the new room, bob can upgrade it in turn.
    await call(http, "POST", f"/rooms/{new}/upgrade", bob, {"new_version": "12"})


async def test_upgrade_errors(http, make_user):
    alice, bob = await make_user("alice"), await make_user("bob")
    room_id = await create_room(http, alice, preset="public_chat")
    await call(http, "POST", f"/rooms/{room_id}/join", bob, {})
    path = f"/rooms/{room_id}/upgrade"
    await call(http, "POST", path, alice, {"new_version": "99"}, status=400, errcode="M_UNSUPPORTED_ROOM_VERSION")
    await call(http, "POST", path, alice, {}, status=400, errcode="M_MISSING_PARAM")
    await call(http, "POST", path, alice, {"new_version": 12}, status=400, errcode="M_BAD_JSON")
    await call(
        http, "POST", path, alice, {"new_version": "12", "additional_creators": ["bob"]},
        status=400, errcode="M_INVALID_PARAM",
    )
    await call(http, "POST", path, bob, {"new_version": "12"}, status=403, errcode="M_FORBIDDEN")
    await call(http, "POST", "/rooms/!nope:veche.test/upgrade", alice, {"new_version": "12"}, status=404)
