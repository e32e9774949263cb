"""Forged and honest PDUs fed to the receiving path of one real Veche (storage included),
with a stand-in keyring and remote server: each is accepted, dropped, rejected, redacted
or soft failed as server-server-api.md says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from veche.homeserver import HomeServer
from veche.protocol.events import Event
from veche.protocol.room_versions import RoomVersion
from veche.protocol.signing import SignatureError, SigningKey, generate_signing_key, verify_signed_json
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.missing_events import StateIdsAt
from veche.services.federation.receiver import PduError, PduReceiver
from veche.services.rooms.sending import EventDraft
from veche.storage.push_actions import MAIN_THREAD, Counts

from .conftest import Certificate, start_federating_server
from .room_setup import as_event, build_pdu, current_auth_events, extremities

REMOTE = "remote.example"
REMOTE_KEY = generate_signing_key("r1")
BOB = f"@bob:{REMOTE}"
EVE = f"@eve:{REMOTE}"


class StubKeyring:
    def __init__(self, keys: dict[str, SigningKey]) -> None:
        self.keys = keys

    async def verify_json(self, server: str, obj: dict[str, Any], *, valid_at_ts: int | None, strict: bool = True) -> None:
        key = self.keys.get(server)
        if key is None or key.key_id not in obj.get("signatures", {}).get(server, {}):
            raise SignatureError(f"not signed by {server}")
        verify_signed_json(obj, server, key.key_id, key.verify_key, strict=strict)


class StubRemote:
    """The remote server's side of /event, /event_auth, /state_ids, /get_missing_events."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.auth_chains: dict[str, list[str]] = {}
        self.missing: list[dict[str, Any]] = []
        self.state_ids: dict[str, StateIdsAt] = {}
        self.calls: list[str] = []

    def add(self, event: Event) -> Event:
        self.events[event.event_id] = event.pdu
        return event

    async def get_event(self, destination: str, event_id: str) -> dict[str, Any]:
        self.calls.append(f"event {event_id}")
        return self.events[event_id]

    async def get_event_auth(self, destination: str, room_id: str, event_id: str) -> list[dict[str, Any]]:
        self.calls.append("event_auth")
        return [self.events[e] for e in self.auth_chains.get(event_id, [])]

    async def get_state_ids(self, destination: str, room_id: str, event_id: str) -> StateIdsAt:
        self.calls.append(f"state_ids {event_id}")
        return self.state_ids[event_id]

    async def get_missing_events(self, destination: str, room_id: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append("get_missing_events")
        return self.missing


@pytest.fixture
async def hs(certificate: Certificate, tmp_path: Path) -> AsyncIterator[HomeServer]:
    server = await start_federating_server(certificate, tmp_path / "a")
    # remote.example does not exist: queue for it, but do not try to resolve it.
    await server.federation_events.outbox.stop()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def remote() -> StubRemote:
    return StubRemote()


@pytest.fixture
def receiver(hs: HomeServer, remote: StubRemote) -> PduReceiver:
    keyring = StubKeyring({REMOTE: REMOTE_KEY, hs.server_name: hs.signing_key})
    return PduReceiver(
        stores=hs.stores,
        sender=hs.sender,
        verifier=EventVerifier(keyring),  # type: ignore[arg-type]
        remote=remote,  # type: ignore[arg-type]
        acl=hs.federation.acl,
    )


class Room:
    def __init__(self, hs: HomeServer, room_id: str, version: RoomVersion) -> None:
        self.hs, self.room_id, self.version = hs, room_id, version
        self.alice = f"@alice:{hs.server_name}"

    async def event(
        self, event_type: str, sender: str, content: dict[str, Any], state_key: str | None = None, **kwargs: Any
    ) -> Event:
        auth = kwargs.pop("auth_events", None)
        if auth is None:
            auth = await current_auth_events(self.hs, self.room_id, event_type, sender, content, state_key)
        prev = kwargs.pop("prev_events", None) or await extremities(self.hs, self.room_id)
        key = kwargs.pop("key", REMOTE_KEY)
        pdu = build_pdu(
            key, REMOTE, self.version, self.room_id, event_type, sender, content,
            prev_events=prev, auth_events=auth, state_key=state_key,
            origin_server_ts=self.hs.sender.now_ms(), **kwargs,
        )
        pdu.update(kwargs.pop("overrides", {}))
        return as_event(pdu, self.version)

    async def meta(self, event_id: str) -> Any:
        return (await self.hs.stores.events.get_event_meta([event_id])).get(event_id)


@pytest.fixture(params=["10", "12"])
async def room(request: pytest.FixtureRequest, hs: HomeServer, receiver: PduReceiver) -> Room:
    alice = f"@alice:{hs.server_name}"
    room_id = await hs.room_creator.create_room(alice, {"preset": "public_chat", "room_version": request.param})
    version = await hs.stores.rooms.get_room_version(room_id)
    assert version is not None
    r = Room(hs, room_id, version)
    join = await r.event("m.room.member", BOB, {"membership": "join"}, BOB)
    await receiver.receive_pdu(REMOTE, join.pdu)
    assert BOB in await hs.stores.rooms.get_joined_members(room_id)
    return r


async def test_honest_message_is_accepted_and_extends_the_room(room: Room, receiver: PduReceiver) -> None:
    message = await room.event("m.room.message", BOB, {"body": "hi"})
    stored = await receiver.receive_pdu(REMOTE, message.pdu)
    assert stored.rejected_reason is None
    meta = await room.meta(message.event_id)
    assert meta.stream_ordering is not None and not meta.soft_failed and not meta.outlier
    assert await room.hs.stores.events.get_forward_extremities(room.room_id) == [message.event_id]
    # A second delivery changes nothing.
    await receiver.receive_pdu(REMOTE, message.pdu)
    assert (await room.meta(message.event_id)).stream_ordering == meta.stream_ordering


async def test_a_received_message_counts_for_local_members(room: Room, receiver: PduReceiver) -> None:
    # Its push actions are stored after its own commit, before the syncs it wakes.
    assert await room.hs.notification_counts.total_unread(room.alice) == 0
    message = await room.event("m.room.message", BOB, {"body": "hi"})
    await receiver.receive_pdu(REMOTE, message.pdu)
    assert await room.hs.notification_counts.total_unread(room.alice) == 1


async def test_a_received_message_reaches_cached_unread_counts(room: Room, receiver: PduReceiver) -> None:
    counts = room.hs.notification_counts
    events = room.hs.stores.events
    assert await counts.unread(room.alice, [room.room_id], events.current_stream_token) == {}
    message = await room.event("m.room.message", BOB, {"body": "hi"})
    await receiver.receive_pdu(REMOTE, message.pdu)
    assert await counts.unread(room.alice, [room.room_id], events.current_stream_token) == {
        room.room_id: {MAIN_THREAD: Counts(1, 0)}
    }


async def test_bad_signature_is_dropped(room: Room, receiver: PduReceiver) -> None:
    forged = await room.event("m.room.message", BOB, {"body": "forged"}, key=generate_signing_key("r1"))
    with pytest.raises(PduError, match="signature"):
        await receiver.receive_pdu(REMOTE, forged.pdu)
    assert await room.meta(forged.event_id) is None
    unsigned = await room.event("m.room.message", BOB, {"body": "unsigned"}, sign=False)
    with pytest.raises(PduError, match="signature"):
        await receiver.receive_pdu(REMOTE, unsigned.pdu)


async def test_bad_hash_keeps_the_redacted_copy(room: Room, receiver: PduReceiver) -> None:
    message = await room.event("m.room.message", BOB, {"body": "original"})
    tampered = dict(message.pdu, content={"body": "tampered"})
    await receiver.receive_pdu(REMOTE, tampered)
    stored = await room.hs.stores.events.get_event(message.event_id)
    assert stored is not None and stored.content == {}
    assert (await room.meta(message.event_id)).rejected_reason is None


async def test_auth_failure_is_rejected_and_hidden(room: Room, receiver: PduReceiver) -> None:
    # Eve never joined: her message fails the auth rules against its auth events.
    message = await room.event("m.room.message", EVE, {"body": "intruder"})
    stored = await receiver.receive_pdu(REMOTE, message.pdu)
    assert stored.rejected_reason is not None
    meta = await room.meta(message.event_id)
    assert meta.rejected_reason is not None
    assert message.event_id not in await room.hs.stores.events.get_forward_extremities(room.room_id)
    recent = await room.hs.stores.events.get_recent_room_events(
        room.room_id, 0, room.hs.stores.events.current_stream_token, 50
    )
    assert message.event_id not in [e.event_id for e in recent.events]


async def test_citing_auth_events_that_do_not_allow_it_is_rejected(room: Room, receiver: PduReceiver) -> None:
    # Bob cites only his join: the power levels needed for a topic change are missing,
    # and the create event must be cited before v12.
    join = await room.hs.stores.events.get_event(
        (await room.hs.stores.state.get_current_state_ids(room.room_id))[("m.room.member", BOB)]
    )
    assert join is not None
    topic = await room.event("m.room.topic", BOB, {"topic": "mine"}, "", auth_events=[join])
    stored = await receiver.receive_pdu(REMOTE, topic.pdu)
    assert stored.rejected_reason is not None
    assert ("m.room.topic", "") not in await room.hs.stores.state.get_current_state_ids(room.room_id) or (
        (await room.hs.stores.state.get_current_state_ids(room.room_id))[("m.room.topic", "")] != topic.event_id
    )


@pytest.mark.parametrize("version", ["10"])
async def test_malformed_pdus_are_dropped(room: Room, receiver: PduReceiver, version: str) -> None:
    message = await room.event("m.room.message", BOB, {"body": "x"})
    wrong_format = dict(message.pdu, prev_events=[[message.prev_event_ids[0], {"sha256": "x"}]])
    with pytest.raises(PduError, match="invalid event"):
        await receiver.receive_pdu(REMOTE, wrong_format)
    oversized = await room.event("m.room.message", BOB, {"body": "x" * 70_000})
    with pytest.raises(PduError, match="bytes"):
        await receiver.receive_pdu(REMOTE, oversized.pdu)
    too_many = dict(message.pdu, prev_events=[message.prev_event_ids[0]] * 21)
    with pytest.raises(PduError, match="prev_events"):
        await receiver.receive_pdu(REMOTE, too_many)
    with pytest.raises(PduError, match="not in room"):
        await receiver.receive_pdu(REMOTE, dict(message.pdu, room_id="!unknown:elsewhere.example"))


async def test_ban_evasion_is_soft_failed(room: Room, receiver: PduReceiver) -> None:
    before_ban = await extremities(room.hs, room.room_id)
    state_before_ban = await current_auth_events(room.hs, room.room_id, "m.room.message", BOB, {}, None)
    await room.hs.sender.send(
        room.room_id, room.alice, EventDraft("m.room.member", {"membership": "ban"}, state_key=BOB)
    )
    # Bob's server pretends not to have seen the ban.
    evading = await room.event(
        "m.room.message", BOB, {"body": "still here"}, prev_events=before_ban, auth_events=state_before_ban
    )
    stored = await receiver.receive_pdu(REMOTE, evading.pdu)
    assert stored.rejected_reason is None
    meta = await room.meta(evading.event_id)
    assert meta.soft_failed
    assert evading.event_id not in await room.hs.stores.events.get_forward_extremities(room.room_id)


async def test_missing_auth_events_are_fetched_and_checked(
    room: Room, receiver: PduReceiver, remote: StubRemote
) -> None:
    # Bob's server changed his display name (an event we never got), then he speaks
    # citing that newer member event.
    rename = remote.add(await room.event("m.room.member", BOB, {"membership": "join", "displayname": "B"}, BOB))
    auth = await current_auth_events(room.hs, room.room_id, "m.room.message", BOB, {}, None)
    auth = [e for e in auth if e.state_key != BOB] + [rename]
    message = await room.event("m.room.message", BOB, {"body": "renamed"}, prev_events=[rename], auth_events=auth)
    remote.auth_chains[message.event_id] = [rename.event_id]
    remote.missing = [rename.pdu]
    stored = await receiver.receive_pdu(REMOTE, message.pdu)
    assert stored.rejected_reason is None
    assert "event_auth" in remote.calls
    assert (await room.meta(rename.event_id)) is not None


async def test_gap_is_filled_with_get_missing_events(room: Room, receiver: PduReceiver, remote: StubRemote) -> None:
    first = remote.add(await room.event("m.room.message", BOB, {"body": "1"}))
    second = remote.add(await room.event("m.room.message", BOB, {"body": "2"}, prev_events=[first]))
    third = await room.event("m.room.message", BOB, {"body": "3"}, prev_events=[second])
    remote.missing = [second.pdu, first.pdu]
    await receiver.receive_pdu(REMOTE, third.pdu)
    assert remote.calls == ["get_missing_events"]
    for event in (first, second, third):
        meta = await room.meta(event.event_id)
        assert meta is not None and not meta.outlier and meta.rejected_reason is None
    assert await room.hs.stores.events.get_forward_extremities(room.room_id) == [third.event_id]


async def test_wide_gap_uses_the_state_at_the_missing_prev_event(
    room: Room, receiver: PduReceiver, remote: StubRemote
) -> None:
    state = await room.hs.stores.state.get_current_state_ids(room.room_id)
    first = remote.add(await room.event("m.room.message", BOB, {"body": "far back"}))
    later = await room.event("m.room.message", BOB, {"body": "much later"}, prev_events=[first])
    remote.missing = []  # the gap is too wide to be listed
    chain = await room.hs.stores.events.get_auth_chain_ids(state.values())
    remote.state_ids[first.event_id] = StateIdsAt(sorted(state.values()), sorted(chain))
    await receiver.receive_pdu(REMOTE, later.pdu)
    assert f"state_ids {first.event_id}" in remote.calls
    meta = await room.meta(later.event_id)
    assert meta is not None and not meta.outlier and meta.rejected_reason is None
    assert (await room.meta(first.event_id)).outlier


async def test_forks_resolve_the_current_state(room: Room, receiver: PduReceiver) -> None:
    base = await extremities(room.hs, room.room_id)
    local = await room.hs.sender.send(room.room_id, room.alice, EventDraft("m.room.topic", {"topic": "A"}, ""))
    remote_branch = await room.event(
        "m.room.message",
        BOB,
        {"body": "concurrent"},
        prev_events=base,
        auth_events=await current_auth_events(room.hs, room.room_id, "m.room.message", BOB, {}, None),
    )
    await receiver.receive_pdu(REMOTE, remote_branch.pdu)
    extremity_ids = set(await room.hs.stores.events.get_forward_extremities(room.room_id))
    assert extremity_ids == {local.event_id, remote_branch.event_id}
    current = await room.hs.stores.state.get_current_state_ids(room.room_id)
    assert current[("m.room.topic", "")] == local.event_id
    merged = await room.hs.sender.send(room.room_id, room.alice, EventDraft("m.room.message", {"body": "merge"}))
    assert set(merged.prev_event_ids) == extremity_ids


async def test_acl_denies_the_origin(room: Room, receiver: PduReceiver) -> None:
    await room.hs.sender.send(
        room.room_id, room.alice, EventDraft("m.room.server_acl", {"allow": ["*"], "deny": [REMOTE]}, "")
    )
    message = await room.event("m.room.message", BOB, {"body": "denied"})
    with pytest.raises(PduError, match="ACL"):
        await receiver.receive_pdu(REMOTE, message.pdu)
