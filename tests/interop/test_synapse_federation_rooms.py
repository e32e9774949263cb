"""Room flows between Veche and a real Synapse over TLS on loopback (harness:
tests/interop/synapse/): invites across room versions, knocking, restricted joins,
leaving and rejecting invites, the public room directory and space hierarchies.

Each flow runs both ways where the spec lets it, with plain client-server calls on both
servers; every wait is bounded (client.WAIT_TIMEOUT_S unless a test says otherwise).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.synapse.client import MatrixClient, MatrixError, quote, wait_all
from tests.interop.synapse.fixtures import (  # noqa: F401  (fixtures)
    SynapseServer,
    VecheServer,
    certificate,
    synapse,
    veche_fed,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Room versions both servers implement, across the event formats and auth rule changes:
# v1 (event IDs with a server name), v6, v10 (integer power levels), v11 (no creator
# field), v12 (room IDs without a server name, creators outside the power levels).
ROOM_VERSIONS = ["1", "6", "10", "11", "12"]


def membership_of(user_id: str, membership: str) -> Any:
    return lambda e: (e["type"] == "m.room.member" and e.get("state_key") == user_id
                      and e["content"].get("membership") == membership)


async def knock(client: MatrixClient, room_id: str, via: list[str], reason: str = "") -> str:
    params = [("server_name", server) for server in via]
    body = {"reason": reason} if reason else {}
    answer = await client.request("POST", f"/_matrix/client/v3/knock/{quote(room_id)}", body, params)
    return answer["room_id"]


async def public_rooms(client: MatrixClient, server: str) -> list[dict[str, Any]]:
    answer = await client.request("GET", "/_matrix/client/v3/publicRooms", params={"server": server, "limit": "50"})
    return answer["chunk"]


async def search_public_rooms(client: MatrixClient, server: str, term: str) -> list[str]:
    """Room IDs of the server's directory matching `term` (the POST form, over federation too)."""
    body = {"limit": 50, "filter": {"generic_search_term": term}}
    answer = await client.request("POST", "/_matrix/client/v3/publicRooms", body, params={"server": server})
    return [room["room_id"] for room in answer["chunk"]]


async def hierarchy(client: MatrixClient, room_id: str) -> list[dict[str, Any]]:
    answer = await client.request("GET", f"/_matrix/client/v1/rooms/{quote(room_id)}/hierarchy")
    return answer["rooms"]


async def add_child(parent: MatrixClient, space_id: str, child_id: str) -> None:
    await parent.put_state(space_id, "m.space.child", {"via": [parent.server_name]}, child_id)


async def converse(room_id: str, one: MatrixClient, other: MatrixClient, tag: str) -> None:
    """A message each way, each seen on the other server."""
    await wait_all(one.send(room_id, f"{tag} from {one.user_id}"), other.send(room_id, f"{tag} from {other.user_id}"))
    await wait_all(one.wait_for_body(room_id, f"{tag} from {other.user_id}"),
                   other.wait_for_body(room_id, f"{tag} from {one.user_id}"))


async def restricted_room(host: MatrixClient, allowed_room: str, version: str) -> str:
    join_rules = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": allowed_room}]}
    return await host.create_room(
        room_version=version, preset="private_chat",
        initial_state=[{"type": "m.room.join_rules", "state_key": "", "content": join_rules}],
    )


async def knock_state(client: MatrixClient, room_id: str) -> dict[str, Any]:
    """The stripped state a fresh /sync shows in the knock section, by event type."""
    answer = await client.request("GET", "/_matrix/client/v3/sync", params={"timeout": "0"})
    events = answer["rooms"]["knock"][room_id]["knock_state"]["events"]
    return {e["type"]: e for e in events}


async def knockable_room(host: MatrixClient) -> str:
    return await host.create_room(
        room_version="10", preset="private_chat",
        initial_state=[{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}],
    )


# Invites across room versions.


@pytest.mark.parametrize("version", ROOM_VERSIONS)
async def test_veche_invites_synapse_user(synapse: SynapseServer, veche_fed: VecheServer, version: str) -> None:
    alice = await veche_fed.register(f"alice-invites-v{version}")
    bob = await synapse.register(f"bob-invited-v{version}")
    room_id = await alice.create_room(room_version=version, preset="private_chat", invite=[bob.user_id])
    await bob.wait_for_membership(room_id, "invite")
    inviter = next(e for e in bob.room(room_id).state if e["type"] == "m.room.member" and e["state_key"] == bob.user_id)
    assert inviter["sender"] == alice.user_id
    assert await bob.join(room_id, via=[veche_fed.server_name]) == room_id
    await alice.wait_for_event(room_id, "bob's join", membership_of(bob.user_id, "join"))
    await converse(room_id, alice, bob, f"v{version}")
    assert (await bob.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.create/"))[
        "room_version"] == version


@pytest.mark.parametrize("version", ROOM_VERSIONS)
async def test_synapse_invites_veche_user(synapse: SynapseServer, veche_fed: VecheServer, version: str) -> None:
    bob = await synapse.register(f"bob-invites-v{version}")
    alice = await veche_fed.register(f"alice-invited-v{version}")
    room_id = await bob.create_room(room_version=version, preset="private_chat", invite=[alice.user_id])
    await alice.wait_for_membership(room_id, "invite")
    inviter = next(e for e in alice.room(room_id).state if e["type"] == "m.room.member" and e["state_key"] == alice.user_id)
    assert inviter["sender"] == bob.user_id
    assert await alice.join(room_id, via=[synapse.server_name]) == room_id
    await bob.wait_for_event(room_id, "alice's join", membership_of(alice.user_id, "join"))
    await converse(room_id, alice, bob, f"v{version}")
    assert (await alice.get_state(room_id, "m.room.create"))["room_version"] == version


# Knocking.


async def knock_and_admit(host: MatrixClient, host_server: str, knocker: MatrixClient, name: str) -> None:
    """`knocker` knocks on a room of `host` (sees the preview, `host` sees the knock), is
    invited, joins and talks."""
    room_id = await knockable_room(host)
    await host.put_state(room_id, "m.room.name", {"name": name})
    assert await knock(knocker, room_id, [host_server], "let me in") == room_id
    await knocker.wait_for_membership(room_id, "knock")
    preview = await knock_state(knocker, room_id)
    assert preview["m.room.name"]["content"]["name"] == name
    assert preview["m.room.join_rules"]["content"]["join_rule"] == "knock"
    knocked = await host.wait_for_event(room_id, "the knock", membership_of(knocker.user_id, "knock"))
    assert knocked["content"].get("reason") == "let me in"
    await host.invite(room_id, knocker.user_id)
    await knocker.wait_for_membership(room_id, "invite")
    await knocker.join(room_id, via=[host_server])
    await host.wait_for_event(room_id, "the knocker's join", membership_of(knocker.user_id, "join"))
    assert (await knocker.get_state(room_id, "m.room.name"))["name"] == name
    await converse(room_id, host, knocker, "after knocking")


async def test_synapse_user_knocks_on_veche_room(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-knocked")
    bob = await synapse.register("bob-knocks")
    await knock_and_admit(alice, veche_fed.server_name, bob, "Knock here")


async def test_veche_user_knocks_on_synapse_room(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-knocked")
    alice = await veche_fed.register("alice-knocks")
    await knock_and_admit(bob, synapse.server_name, alice, "Knock there")


async def test_veche_user_retracts_a_knock_on_synapse(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    # Veche is not in the room: the retraction is make_leave/send_leave to Synapse. (The
    # other way cannot be tested: Synapse 1.163 rescinds its users' knocks on remote rooms
    # only locally, RoomMemberMasterHandler.remote_rescind_knock, telling no other server.)
    bob = await synapse.register("bob-knock-retracted")
    alice = await veche_fed.register("alice-retracts")
    room_id = await knockable_room(bob)
    await knock(alice, room_id, [synapse.server_name])
    await alice.wait_for_membership(room_id, "knock")
    await bob.wait_for_event(room_id, "alice's knock", membership_of(alice.user_id, "knock"))

    await alice.leave(room_id)

    await alice.wait_for_membership(room_id, "leave")
    await bob.wait_for_event(room_id, "alice's retraction", membership_of(alice.user_id, "leave"))
    assert (await bob.get_state(room_id, "m.room.member", alice.user_id))["membership"] == "leave"


async def test_veche_rejects_a_synapse_knock(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-refuses-knock")
    bob = await synapse.register("bob-knock-refused")
    room_id = await knockable_room(alice)
    await knock(bob, room_id, [veche_fed.server_name])
    await bob.wait_for_membership(room_id, "knock")
    await alice.wait_for_event(room_id, "bob's knock", membership_of(bob.user_id, "knock"))
    await alice.kick(room_id, bob.user_id, "not today")
    assert (await alice.get_state(room_id, "m.room.member", bob.user_id))["membership"] == "leave"
    # Veche sends the kick to Bob's server, but Synapse 1.163 drops PDUs of rooms it is
    # not in unless they rescind an invite (FederationEventHandler.on_receive_pdu, "Ignoring
    # PDU ... as we're not in the room"), so Bob's /sync keeps showing his knock. The
    # room's server is what decides: Bob cannot join without an invite.
    with pytest.raises(MatrixError) as refused:
        await bob.join(room_id, via=[veche_fed.server_name])
    assert refused.value.status == 403


async def test_synapse_rejects_a_veche_knock(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-refuses-knock")
    alice = await veche_fed.register("alice-knock-refused")
    room_id = await knockable_room(bob)
    await knock(alice, room_id, [synapse.server_name])
    await alice.wait_for_membership(room_id, "knock")
    await bob.wait_for_event(room_id, "alice's knock", membership_of(alice.user_id, "knock"))
    await bob.kick(room_id, alice.user_id, "not today")
    await bob.wait_for_event(room_id, "alice's kick", membership_of(alice.user_id, "leave"))
    # Synapse 1.163 sends a membership change to the servers in the room, and to the
    # target's server only when an invite is rescinded (FederationSender), so Veche does
    # not hear of this kick; Synapse refuses Alice's join all the same.
    with pytest.raises(MatrixError) as refused:
        await alice.join(room_id, via=[synapse.server_name])
    assert refused.value.status == 403


async def test_veche_rescinds_an_invite_to_synapse(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-rescinds")
    bob = await synapse.register("bob-uninvited")
    room_id = await alice.create_room(preset="private_chat", invite=[bob.user_id])
    await bob.wait_for_membership(room_id, "invite")
    await alice.kick(room_id, bob.user_id, "sent by mistake")
    await bob.wait_for_membership(room_id, "leave")
    with pytest.raises(MatrixError) as refused:
        await bob.join(room_id, via=[veche_fed.server_name])
    assert refused.value.status == 403


async def test_synapse_rescinds_an_invite_to_veche(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-rescinds")
    alice = await veche_fed.register("alice-uninvited")
    room_id = await bob.create_room(preset="private_chat", invite=[alice.user_id])
    await alice.wait_for_membership(room_id, "invite")
    await bob.kick(room_id, alice.user_id, "sent by mistake")
    await alice.wait_for_membership(room_id, "leave")
    with pytest.raises(MatrixError) as refused:
        await alice.join(room_id, via=[synapse.server_name])
    assert refused.value.status == 403


# Restricted rooms.


@pytest.mark.parametrize("version", ["8", "10"])
async def test_synapse_user_joins_veche_restricted_room(
    synapse: SynapseServer, veche_fed: VecheServer, version: str
) -> None:
    alice = await veche_fed.register(f"alice-restricts-v{version}")
    bob = await synapse.register(f"bob-member-v{version}")
    carol = await synapse.register(f"carol-outsider-v{version}")
    space_id = await alice.create_room(preset="public_chat", creation_content={"type": "m.space"})
    room_id = await restricted_room(alice, space_id, version)
    await add_child(alice, space_id, room_id)

    # Not a member of the space: Veche's make_join refuses.
    with pytest.raises(MatrixError) as refused:
        await carol.join(room_id, via=[veche_fed.server_name])
    assert refused.value.status == 403

    await bob.join(space_id, via=[veche_fed.server_name])
    await alice.wait_for_event(space_id, "bob's join to the space", membership_of(bob.user_id, "join"))
    assert await bob.join(room_id, via=[veche_fed.server_name]) == room_id
    join = await alice.wait_for_event(room_id, "bob's join", membership_of(bob.user_id, "join"))
    assert join["content"]["join_authorised_via_users_server"] == alice.user_id
    await converse(room_id, alice, bob, "restricted")


@pytest.mark.parametrize("version", ["8", "10"])
async def test_veche_user_joins_synapse_restricted_room(
    synapse: SynapseServer, veche_fed: VecheServer, version: str
) -> None:
    bob = await synapse.register(f"bob-restricts-v{version}")
    alice = await veche_fed.register(f"alice-member-v{version}")
    dave = await veche_fed.register(f"dave-outsider-v{version}")
    space_id = await bob.create_room(preset="public_chat", creation_content={"type": "m.space"})
    room_id = await restricted_room(bob, space_id, version)
    await add_child(bob, space_id, room_id)

    await alice.join(space_id, via=[synapse.server_name])
    await bob.wait_for_event(space_id, "alice's join to the space", membership_of(alice.user_id, "join"))
    # Dave's server is in the space, Dave is not: Synapse's make_join refuses him.
    with pytest.raises(MatrixError) as refused:
        await dave.join(room_id, via=[synapse.server_name])
    assert refused.value.status == 403

    assert await alice.join(room_id, via=[synapse.server_name]) == room_id
    join = await bob.wait_for_event(room_id, "alice's join", membership_of(alice.user_id, "join"))
    assert join["content"]["join_authorised_via_users_server"] == bob.user_id
    await converse(room_id, alice, bob, "restricted")


async def test_knock_restricted_veche_room(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    # v10's knock_restricted: members of the allowed space join at once, others knock.
    alice = await veche_fed.register("alice-knock-restricts")
    bob = await synapse.register("bob-space-member")
    carol = await synapse.register("carol-knocks-instead")
    space_id = await alice.create_room(preset="public_chat", creation_content={"type": "m.space"})
    join_rules = {"join_rule": "knock_restricted", "allow": [{"type": "m.room_membership", "room_id": space_id}]}
    room_id = await alice.create_room(
        room_version="10", preset="private_chat",
        initial_state=[{"type": "m.room.join_rules", "state_key": "", "content": join_rules}],
    )
    await bob.join(space_id, via=[veche_fed.server_name])
    await alice.wait_for_event(space_id, "bob's join to the space", membership_of(bob.user_id, "join"))

    assert await bob.join(room_id, via=[veche_fed.server_name]) == room_id
    join = await alice.wait_for_event(room_id, "bob's join", membership_of(bob.user_id, "join"))
    assert join["content"]["join_authorised_via_users_server"] == alice.user_id

    with pytest.raises(MatrixError) as refused:
        await carol.join(room_id, via=[veche_fed.server_name])
    assert refused.value.status == 403
    await knock(carol, room_id, [veche_fed.server_name])
    await alice.wait_for_event(room_id, "carol's knock", membership_of(carol.user_id, "knock"))


# Leaving and rejecting invites.


async def test_veche_user_leaves_synapse_room(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-left")
    alice = await veche_fed.register("alice-leaves")
    room_id = await bob.create_room(preset="public_chat")
    await alice.join(room_id, via=[synapse.server_name])
    await wait_all(bob.wait_for_event(room_id, "alice's join", membership_of(alice.user_id, "join")),
                   alice.wait_for_membership(room_id, "join"))
    await alice.leave(room_id)
    await alice.wait_for_membership(room_id, "leave")
    await bob.wait_for_event(room_id, "alice's leave", membership_of(alice.user_id, "leave"))
    # Veche is no longer in the room: Bob's next message stays on Synapse, and Alice
    # can come back through Synapse.
    await bob.send(room_id, "after alice left")
    await alice.join(room_id, via=[synapse.server_name])
    await bob.wait_for_event(room_id, "alice's second join",
                             lambda e: membership_of(alice.user_id, "join")(e)
                             and e["unsigned"].get("prev_content", {}).get("membership") == "leave")
    await converse(room_id, alice, bob, "back again")


async def test_synapse_user_leaves_veche_room(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-left")
    bob = await synapse.register("bob-leaves")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id, via=[veche_fed.server_name])
    await wait_all(alice.wait_for_event(room_id, "bob's join", membership_of(bob.user_id, "join")),
                   bob.wait_for_membership(room_id, "join"))
    await bob.leave(room_id)
    await bob.wait_for_membership(room_id, "leave")
    await alice.wait_for_event(room_id, "bob's leave", membership_of(bob.user_id, "leave"))
    members = await alice.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/joined_members")
    assert set(members["joined"]) == {alice.user_id}


async def test_veche_user_rejects_synapse_invite(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-invite-rejected")
    alice = await veche_fed.register("alice-rejects")
    room_id = await bob.create_room(preset="private_chat", invite=[alice.user_id])
    await alice.wait_for_membership(room_id, "invite")
    # Veche holds the invite only: the rejection goes to Synapse with make_leave/send_leave.
    await alice.leave(room_id)
    await alice.wait_for_membership(room_id, "leave")
    await bob.wait_for_event(room_id, "alice's rejection", membership_of(alice.user_id, "leave"))
    assert (await bob.get_state(room_id, "m.room.member", alice.user_id))["membership"] == "leave"


async def test_synapse_user_rejects_veche_invite(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-invite-rejected")
    bob = await synapse.register("bob-rejects")
    room_id = await alice.create_room(preset="private_chat", invite=[bob.user_id])
    await bob.wait_for_membership(room_id, "invite")
    await bob.leave(room_id)
    await bob.wait_for_membership(room_id, "leave")
    await alice.wait_for_event(room_id, "bob's rejection", membership_of(bob.user_id, "leave"))
    assert (await alice.get_state(room_id, "m.room.member", bob.user_id))["membership"] == "leave"


# The public room directory and space hierarchies.


async def test_public_rooms_listed_across(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-publishes")
    bob = await synapse.register("bob-publishes")
    veche_room = await alice.create_room(preset="public_chat", visibility="public", name="Veche lobby",
                                         topic="published on Veche")
    synapse_room = await bob.create_room(preset="public_chat", visibility="public", name="Synapse lobby",
                                         topic="published on Synapse")
    await bob.put_alias(f"#synapse-lobby:{synapse.server_name}", synapse_room)
    await bob.put_state(synapse_room, "m.room.canonical_alias", {"alias": f"#synapse-lobby:{synapse.server_name}"})

    listed = {r["room_id"]: r for r in await public_rooms(alice, synapse.server_name)}
    assert synapse_room in listed, listed
    entry = listed[synapse_room]
    assert entry["name"] == "Synapse lobby" and entry["topic"] == "published on Synapse"
    assert entry["canonical_alias"] == f"#synapse-lobby:{synapse.server_name}"
    assert entry["num_joined_members"] == 1 and entry["world_readable"] is False

    listed = {r["room_id"]: r for r in await public_rooms(bob, veche_fed.server_name)}
    assert veche_room in listed, listed
    entry = listed[veche_room]
    assert entry["name"] == "Veche lobby" and entry["topic"] == "published on Veche"
    assert entry["num_joined_members"] == 1 and entry["join_rule"] == "public"

    # Searching is asked of the other server with its filter.
    assert await search_public_rooms(alice, synapse.server_name, "synapse LOBBY") == [synapse_room]
    assert await search_public_rooms(alice, synapse.server_name, "nowhere to be found") == []
    assert await search_public_rooms(bob, veche_fed.server_name, "veche lobby") == [veche_room]
    assert await search_public_rooms(bob, veche_fed.server_name, "nowhere to be found") == []

    # And a room found there can be joined from the listing.
    await alice.join(synapse_room, via=[synapse.server_name])
    await bob.join(veche_room, via=[veche_fed.server_name])
    listed = {r["room_id"]: r for r in await public_rooms(alice, synapse.server_name)}
    assert listed[synapse_room]["num_joined_members"] == 2


async def test_hierarchy_of_a_synapse_space(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-space")
    alice = await veche_fed.register("alice-space-visitor")
    space_id = await bob.create_room(preset="public_chat", name="Synapse space", creation_content={"type": "m.space"})
    public_child = await bob.create_room(preset="public_chat", name="Open child")
    private_child = await bob.create_room(preset="private_chat", name="Closed child")
    for child in (public_child, private_child):
        await add_child(bob, space_id, child)
    await alice.join(space_id, via=[synapse.server_name])
    # Veche holds the space but neither child: it asks Synapse about them.
    rooms = {r["room_id"]: r for r in await hierarchy(alice, space_id)}
    assert set(rooms) == {space_id, public_child}, rooms
    assert rooms[space_id]["name"] == "Synapse space" and rooms[space_id]["room_type"] == "m.space"
    assert {c["state_key"] for c in rooms[space_id]["children_state"]} == {public_child, private_child}
    assert rooms[public_child]["name"] == "Open child" and rooms[public_child]["join_rule"] == "public"


async def test_hierarchy_of_a_veche_space(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-space")
    bob = await synapse.register("bob-space-visitor")
    space_id = await alice.create_room(preset="public_chat", name="Veche space", creation_content={"type": "m.space"})
    public_child = await alice.create_room(preset="public_chat", name="Open child")
    private_child = await alice.create_room(preset="private_chat", name="Closed child")
    restricted_child = await restricted_room(alice, space_id, "10")
    for child in (public_child, private_child, restricted_child):
        await add_child(alice, space_id, child)
    await bob.join(space_id, via=[veche_fed.server_name])
    # Synapse holds the space but no child: it asks Veche's /hierarchy about them.
    rooms = {r["room_id"]: r for r in await hierarchy(bob, space_id)}
    assert set(rooms) == {space_id, public_child, restricted_child}, rooms
    assert rooms[space_id]["name"] == "Veche space" and rooms[space_id]["room_type"] == "m.space"
    assert rooms[public_child]["name"] == "Open child" and rooms[public_child]["join_rule"] == "public"
    assert rooms[restricted_child]["join_rule"] == "restricted"
