"""Veche federating with a real Synapse over TLS on loopback (harness: tests/interop/synapse/).

Server keys and signed requests both ways, then the cross-server flows Veche supports,
written with plain client-server calls against both servers: joins, messages, invites,
kicks and bans, typing, receipts and presence, queries, media, backfill, outages and
partitions, and an end-to-end encrypted conversation driven by matrix-js-sdk on each side
(device lists, keys and to-device messages crossing over). A failing test's report holds
Synapse's log of it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import signedjson.key
import signedjson.sign
from unpaddedbase64 import encode_base64

from tests.federation.conftest import Certificate
from tests.interop.synapse.client import MatrixClient, MatrixError, wait_all
from tests.interop.synapse.fixtures import (  # noqa: F401  (fixtures)
    Network,
    SynapseServer,
    VecheServer,
    certificate,
    network,
    synapse,
    veche_fed,
)
from tests.interop.test_js_sdk_e2ee import JS_DIR, install_node, run
from veche.services.federation.tls import federation_client_ssl_context
from veche.storage.server_keys import ServerKeyStore

pytestmark = pytest.mark.asyncio(loop_scope="module")

E2EE_SCRIPT = "synapse/e2ee_cross.mjs"


def now_ms() -> int:
    return int(time.time() * 1000)


def membership_of(user_id: str, membership: str) -> Any:
    return lambda e: (e["type"] == "m.room.member" and e.get("state_key") == user_id
                      and e["content"].get("membership") == membership)


async def shared_room(host: MatrixClient, guest: MatrixClient, **create: Any) -> str:
    """A public room on the host's server that the guest from the other server joined."""
    room_id = await host.create_room(preset="public_chat", **create)
    await guest.join(room_id, via=[host.server_name])
    await host.wait_for_event(room_id, f"{guest.user_id} to join", membership_of(guest.user_id, "join"))
    return room_id


# Working today: keys and signed requests.


async def test_synapse_fetches_veche_keys(
    synapse: SynapseServer, veche_fed: VecheServer, certificate: Certificate
) -> None:
    # Synapse's key server answers from Veche's own /_matrix/key/v2/server (it trusts no
    # notary here), so the answer carries both servers' signatures.
    ssl_context = federation_client_ssl_context(ca_files=[certificate.cert])
    wanted = {veche_fed.hs.signing_key.key_id: {"minimum_valid_until_ts": now_ms()}}
    query = {"server_keys": {veche_fed.server_name: wanted}}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{synapse.federation_url}/_matrix/key/v2/query", json=query, ssl=ssl_context) as response:
            answer = await response.json()
            assert response.status == 200, answer
    [keys] = answer["server_keys"]
    hs = veche_fed.hs
    assert keys["server_name"] == veche_fed.server_name
    assert keys["verify_keys"] == {hs.signing_key.key_id: {"key": encode_base64(bytes(hs.signing_key.verify_key))}}
    veche_key = signedjson.key.decode_verify_key_bytes(hs.signing_key.key_id, bytes(hs.signing_key.verify_key))
    signedjson.sign.verify_signed_json(keys, veche_fed.server_name, veche_key)
    synapse_key = signedjson.key.get_verify_key(synapse.signing_key)
    signedjson.sign.verify_signed_json(keys, synapse.server_name, synapse_key)


async def test_veche_fetches_synapse_keys(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    hs = veche_fed.hs
    key = await hs.federation.keyring.get_key(synapse.server_name, synapse.key_id, valid_at_ts=now_ms(), current_only=True)
    assert bytes(key.verify_key) == bytes(synapse.signing_key.verify_key)
    stored = await ServerKeyStore(hs.db).get_keys(synapse.server_name)
    assert synapse.key_id in [k.key_id for k in stored]


async def test_veche_signed_requests_are_accepted_by_synapse(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    client = veche_fed.hs.federation.client
    version = await client.get_json(synapse.server_name, "/_matrix/federation/v1/version")
    assert version["server"]["name"] == "Synapse"
    # An authenticated endpoint: Synapse checks the X-Matrix signature with Veche's key.
    pat = await synapse.register("pat")
    await pat.set_displayname("Pat on Synapse")
    profile = await client.get_json(synapse.server_name, "/_matrix/federation/v1/query/profile", {"user_id": pat.user_id})
    assert profile["displayname"] == "Pat on Synapse"


async def test_synapse_refuses_unsigned_requests(synapse: SynapseServer, certificate: Certificate) -> None:
    ssl_context = federation_client_ssl_context(ca_files=[certificate.cert])
    url = f"{synapse.federation_url}/_matrix/federation/v1/query/profile?user_id=%40x%3A{synapse.server_name}"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, ssl=ssl_context) as response:
            assert response.status == 401


async def test_veche_answers_federation_requests_as_synapse_makes_them(
    veche_fed: VecheServer, certificate: Certificate
) -> None:
    # Synapse reaches an IP-literal server name straight at that address, over TLS
    # without SNI (none is sent for an IP address), with the name as Host.
    ssl_context = federation_client_ssl_context(ca_files=[certificate.cert])
    async with aiohttp.ClientSession() as http:
        for path in ("/_matrix/federation/v1/version", "/_matrix/key/v2/server"):
            async with http.get(veche_fed.federation_url + path, ssl=ssl_context,
                                headers={"Host": veche_fed.server_name}) as response:
                assert response.status == 200, path
    # And Synapse itself, verifying a request Veche signed above, fetched Veche's keys:
    # see test_synapse_fetches_veche_keys and test_veche_signed_requests_are_accepted_by_synapse.


# The cross-server flows, waiting for Veche's federation to land.


async def test_veche_user_joins_synapse_room(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-hosts")
    alice = await veche_fed.register("alice-visits")
    room_id = await bob.create_room(preset="public_chat", name="On Synapse")
    assert await alice.join(room_id, via=[synapse.server_name]) == room_id
    assert (await alice.get_state(room_id, "m.room.name"))["name"] == "On Synapse"
    await alice.wait_for_membership(room_id, "join")
    await bob.wait_for_event(room_id, "alice's join", membership_of(alice.user_id, "join"))


async def test_synapse_user_joins_veche_room(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-hosts")
    bob = await synapse.register("bob-visits")
    room_id = await alice.create_room(preset="public_chat", name="On Veche")
    assert await bob.join(room_id, via=[veche_fed.server_name]) == room_id
    assert (await bob.get_state(room_id, "m.room.name"))["name"] == "On Veche"
    await bob.wait_for_membership(room_id, "join")
    await alice.wait_for_event(room_id, "bob's join", membership_of(bob.user_id, "join"))


async def test_messages_flow_both_ways(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-chats")
    bob = await synapse.register("bob-chats")
    room_id = await shared_room(alice, bob)
    for n in range(3):
        await alice.send(room_id, f"veche {n}")
        await bob.send(room_id, f"synapse {n}")
    expected = {f"{side} {n}" for side in ("veche", "synapse") for n in range(3)}
    for client in (alice, bob):
        await client.wait_until(f"all six messages in {room_id}",
                                lambda c=client: expected <= set(c.room(room_id).bodies()))
        # Each side's own messages keep their order on the other side.
        bodies = client.room(room_id).bodies()
        for side in ("veche", "synapse"):
            assert [b for b in bodies if b.startswith(side)] == [f"{side} {n}" for n in range(3)]


async def test_invites_kicks_bans_and_power_levels_cross(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-moderates")
    bob = await synapse.register("bob-moderated")
    carol = await synapse.register("carol-moderated")
    room_id = await alice.create_room(preset="private_chat")

    await alice.invite(room_id, bob.user_id)
    await bob.wait_for_membership(room_id, "invite")
    await bob.join(room_id, via=[veche_fed.server_name])
    await alice.wait_for_event(room_id, "bob's join", membership_of(bob.user_id, "join"))

    await alice.set_power_level(room_id, bob.user_id, 50)
    await bob.wait_for_event(room_id, "bob's power level 50", lambda e: e["type"] == "m.room.power_levels"
                             and e["content"].get("users", {}).get(bob.user_id) == 50)
    assert (await bob.get_state(room_id, "m.room.power_levels"))["users"][bob.user_id] == 50

    await alice.invite(room_id, carol.user_id)
    await carol.wait_for_membership(room_id, "invite")
    await carol.join(room_id, via=[veche_fed.server_name])
    await alice.kick(room_id, carol.user_id, "kicked from Veche")
    await carol.wait_for_membership(room_id, "leave")
    await alice.ban(room_id, carol.user_id, "banned from Veche")
    await bob.wait_for_event(room_id, "carol's ban", membership_of(carol.user_id, "ban"))
    assert (await bob.get_state(room_id, "m.room.member", carol.user_id))["membership"] == "ban"

    # And the other way: a room on Synapse inviting, promoting and banning a Veche user.
    dave = await veche_fed.register("dave-moderated")
    synapse_room = await bob.create_room(preset="private_chat", invite=[dave.user_id])
    await dave.wait_for_membership(synapse_room, "invite")
    await dave.join(synapse_room, via=[synapse.server_name])
    await bob.wait_for_event(synapse_room, "dave's join", membership_of(dave.user_id, "join"))
    await bob.set_power_level(synapse_room, dave.user_id, 20)
    await dave.wait_for_event(synapse_room, "dave's power level 20", lambda e: e["type"] == "m.room.power_levels"
                              and e["content"].get("users", {}).get(dave.user_id) == 20)
    await bob.ban(synapse_room, dave.user_id, "banned from Synapse")
    await dave.wait_for_event(synapse_room, "dave's ban", membership_of(dave.user_id, "ban"))


def ephemeral(client: MatrixClient, room_id: str, event_type: str) -> list[dict[str, Any]]:
    return [e["content"] for e in client.room(room_id).ephemeral if e["type"] == event_type]


def typing_users(client: MatrixClient, room_id: str) -> set[str]:
    latest = ephemeral(client, room_id, "m.typing")[-1:]
    return set(latest[0].get("user_ids", [])) if latest else set()


def has_read_receipt(client: MatrixClient, room_id: str, event_id: str, user_id: str) -> bool:
    return any(user_id in content.get(event_id, {}).get("m.read", {})
               for content in ephemeral(client, room_id, "m.receipt"))


async def test_typing_receipts_and_presence_cross(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-types")
    bob = await synapse.register("bob-types")
    room_id = await shared_room(alice, bob)

    await alice.typing(room_id)
    await bob.wait_until("alice typing", lambda: alice.user_id in typing_users(bob, room_id))
    await bob.typing(room_id)
    await alice.wait_until("bob typing", lambda: bob.user_id in typing_users(alice, room_id))
    await alice.typing(room_id, False)
    await bob.wait_until("alice to stop typing", lambda: alice.user_id not in typing_users(bob, room_id))

    from_bob = await bob.send(room_id, "read me")
    await alice.wait_for_body(room_id, "read me")
    await alice.receipt(room_id, from_bob)
    await bob.wait_until("alice's read receipt", lambda: has_read_receipt(bob, room_id, from_bob, alice.user_id))
    from_alice = await alice.send(room_id, "read me too")
    await bob.wait_for_body(room_id, "read me too")
    await bob.receipt(room_id, from_alice)
    await alice.wait_until("bob's read receipt", lambda: has_read_receipt(alice, room_id, from_alice, bob.user_id))

    await alice.set_presence("online", "on Veche")
    await bob.wait_until("alice's presence", lambda: (bob.presence.get(alice.user_id) or {}).get("status_msg") == "on Veche")
    await bob.set_presence("unavailable", "on Synapse")
    await alice.wait_until("bob's presence", lambda: (alice.presence.get(bob.user_id) or {}).get("presence") == "unavailable")


async def test_profile_queries_cross(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-profile")
    bob = await synapse.register("bob-profile")
    await alice.set_displayname("Alice of Veche")
    await bob.set_displayname("Bob of Synapse")
    assert (await alice.profile(bob.user_id))["displayname"] == "Bob of Synapse"
    assert (await bob.profile(alice.user_id))["displayname"] == "Alice of Veche"


async def test_alias_queries_cross(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-alias")
    bob = await synapse.register("bob-alias")
    veche_room = await alice.create_room(preset="public_chat")
    synapse_room = await bob.create_room(preset="public_chat")
    await alice.put_alias(f"#veche-room:{veche_fed.server_name}", veche_room)
    await bob.put_alias(f"#synapse-room:{synapse.server_name}", synapse_room)

    answer = await bob.resolve_alias(f"#veche-room:{veche_fed.server_name}")
    assert answer["room_id"] == veche_room and veche_fed.server_name in answer["servers"]
    answer = await alice.resolve_alias(f"#synapse-room:{synapse.server_name}")
    assert answer["room_id"] == synapse_room and synapse.server_name in answer["servers"]
    with pytest.raises(MatrixError) as missing:
        await alice.resolve_alias(f"#no-such-room:{synapse.server_name}")
    assert missing.value.errcode == "M_NOT_FOUND"


async def history_is_complete(reader: MatrixClient, room_id: str, expected: list[str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        bodies = [e["content"].get("body") for e in await reader.messages(room_id, limit=100)
                  if e["type"] == "m.room.message"]
        if bodies[: len(expected)] == expected or time.monotonic() > deadline:
            assert bodies[: len(expected)] == expected
            return
        await asyncio.sleep(0.5)


async def test_history_before_joining_a_synapse_room_is_backfilled(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-history")
    alice = await veche_fed.register("alice-history")
    room_id = await bob.create_room(preset="public_chat")
    earlier = [f"before alice {n}" for n in range(25)]
    for body in earlier:
        await bob.send(room_id, body)
    await alice.join(room_id, via=[synapse.server_name])
    await history_is_complete(alice, room_id, earlier)


async def test_history_before_joining_a_veche_room_is_backfilled(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-history-host")
    bob = await synapse.register("bob-history-guest")
    room_id = await alice.create_room(preset="public_chat")
    earlier = [f"before bob {n}" for n in range(25)]
    for body in earlier:
        await alice.send(room_id, body)
    await bob.join(room_id, via=[veche_fed.server_name])
    await history_is_complete(bob, room_id, earlier)


async def test_js_sdk_encrypted_conversation_across_servers(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    node = await install_node()
    script = JS_DIR.parent / E2EE_SCRIPT
    code, out, err = await run(node, str(script), str(JS_DIR / "node_modules"), veche_fed.client_url,
                               synapse.client_url, timeout=180)
    print(err)
    assert code == 0 and out.strip().endswith("OK"), f"scenario failed (exit {code}):\n{err[-6000:]}"


PICTURE = bytes(range(256)) * 64


async def test_veche_user_downloads_synapse_media(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    bob = await synapse.register("bob-media")
    alice = await veche_fed.register("alice-media")
    mxc = await bob.upload(PICTURE, "application/octet-stream", "from-synapse.bin")
    data, _ = await alice.download(mxc)
    assert data == PICTURE


async def test_synapse_user_downloads_veche_media(synapse: SynapseServer, veche_fed: VecheServer) -> None:
    alice = await veche_fed.register("alice-media-host")
    bob = await synapse.register("bob-media-guest")
    mxc = await alice.upload(PICTURE, "application/octet-stream", "from-veche.bin")
    data, _ = await bob.download(mxc)
    assert data == PICTURE


async def test_messages_sent_while_synapse_is_down_arrive_once_in_order(
    synapse: SynapseServer, veche_fed: VecheServer
) -> None:
    alice = await veche_fed.register("alice-outage")
    bob = await synapse.register("bob-outage")
    room_id = await shared_room(alice, bob)
    await bob.send(room_id, "before the outage")
    await alice.wait_for_body(room_id, "before the outage")

    await synapse.stop()
    try:
        during = [f"during the outage {n}" for n in range(10)]
        for body in during:
            await alice.send(room_id, body)
    finally:
        await synapse.start()
    await alice.send(room_id, "after the outage")

    expected = [*during, "after the outage"]
    deadline = time.monotonic() + 45
    while True:
        bodies = [e["content"].get("body") for e in await bob.messages(room_id, limit=100)
                  if e["type"] == "m.room.message"]
        arrived = [b for b in bodies if b in expected]
        if arrived == expected or time.monotonic() > deadline:
            assert arrived == expected, f"Synapse has {arrived}"
            return
        await asyncio.sleep(0.5)


async def test_partitioned_ban_and_power_change_resolve_alike(
    synapse: SynapseServer, veche_fed: VecheServer, network: Network
) -> None:
    # Bob on Synapse creates the room and lets Alice on Veche ban; during a partition Alice
    # bans Carol while Bob takes Alice's power away. State resolution orders Bob's change
    # (the more powerful sender) first, so Alice's ban fails on both servers.
    bob = await synapse.register("bob-partition")
    carol = await synapse.register("carol-partition")
    alice = await veche_fed.register("alice-partition")
    room_id = await bob.create_room(preset="public_chat")
    await alice.join(room_id, via=[synapse.server_name])
    await carol.join(room_id)
    await bob.set_power_level(room_id, alice.user_id, 50)
    await alice.wait_for_event(room_id, "alice's power 50", lambda e: e["type"] == "m.room.power_levels"
                               and e["content"].get("users", {}).get(alice.user_id) == 50)
    await alice.wait_for_event(room_id, "carol's join", membership_of(carol.user_id, "join"))

    network.partition()
    await alice.ban(room_id, carol.user_id, "banned during the partition")
    await bob.set_power_level(room_id, alice.user_id, 0)
    network.heal()

    # New events on each side pull in the other side's branch and then merge the two.
    for n in range(2):
        await wait_all(alice.send(room_id, f"alice after healing {n}"), bob.send(room_id, f"bob after healing {n}"))
        await wait_all(alice.wait_for_body(room_id, f"bob after healing {n}", timeout=30),
                       bob.wait_for_body(room_id, f"alice after healing {n}", timeout=30))

    async def resolved(client: MatrixClient) -> tuple[int, str]:
        levels = await client.get_state(room_id, "m.room.power_levels")
        member = await client.get_state(room_id, "m.room.member", carol.user_id)
        return levels.get("users", {}).get(alice.user_id, 0), member["membership"]

    deadline = time.monotonic() + 20
    views = await wait_all(resolved(alice), resolved(bob))
    while views != [(0, "join"), (0, "join")] and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        views = await wait_all(resolved(alice), resolved(bob))
    assert views == [(0, "join"), (0, "join")], f"(alice's power, carol's membership) on Veche, on Synapse: {views}"
