"""Forged PDUs in every room version, fed to the receiving entry point (PUT /send's
`TransactionHandler.on_transaction`) of a real Veche on SQLite and PostgreSQL, each
handled as server-server-api.md says ("Checks performed on receipt of a PDU",
"Rejection", "Soft failure", "Validating hashes and signatures on received events"):

- bad signature: dropped (an error in the answer, nothing stored);
- content hash mismatch: accepted, and only its redacted copy is kept and served;
- auth failure against its own auth events: rejected (stored, never shown);
- allowed by its auth events but not by the current state: soft failed (stored, not in
  /sync, not a forward extremity);
- not the event format of its room version, or beyond the size/reference/depth
  bounds: dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from veche.errors import MatrixError
from veche.homeserver import HomeServer
from veche.protocol.canonical_json import CanonicalJsonError
from veche.protocol.event_ids import compute_event_id
from veche.protocol.events import Event
from veche.protocol.federation_checks import MAX_AUTH_EVENTS, MAX_PREV_EVENTS
from veche.protocol.filters import DEFAULT_FILTER
from veche.protocol.hashing import add_hashes_and_signatures
from veche.protocol.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion
from veche.protocol.signing import generate_signing_key
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.receiver import PduReceiver
from veche.services.federation.transactions import TransactionHandler
from veche.services.rooms.sending import EventDraft
from veche.storage.accounts import TokenInfo
from veche.storage.federation_txns import ReceivedTransactionStore

from .room_setup import build_pdu, current_auth_events, extremities
from .test_receive import REMOTE, REMOTE_KEY, StubKeyring, StubRemote

BOB = f"@bob:{REMOTE}"
EVE = f"@eve:{REMOTE}"
VERSIONS = sorted(KNOWN_ROOM_VERSIONS, key=int)

pytestmark = pytest.mark.parametrize("version", VERSIONS)


class Peer:
    """remote.example, sending PDUs of one room to `hs` in transactions."""

    def __init__(self, hs: HomeServer, room_id: str, version: RoomVersion) -> None:
        self.hs, self.room_id, self.version = hs, room_id, version
        self.alice = f"@alice:{hs.server_name}"
        receiver = PduReceiver(
            stores=hs.stores,
            sender=hs.sender,
            verifier=EventVerifier(StubKeyring({REMOTE: REMOTE_KEY, hs.server_name: hs.signing_key})),  # type: ignore[arg-type]
            remote=StubRemote(),  # type: ignore[arg-type]
            acl=hs.federation.acl,
        )
        self.handler = TransactionHandler(
            receiver=receiver,
            edus=hs.federation_events.edus,
            store=ReceivedTransactionStore(hs.db),
            outbox=hs.federation_events.outbox,
            withdrawals=hs.federation_events.withdrawals,
        )
        self._txn_ids = itertools.count()
        # Distinct timestamps keep the v1/v2 event IDs build_pdu makes distinct.
        self._ts = itertools.count(hs.sender.now_ms())

    async def pdu(
        self,
        event_type: str,
        sender: str,
        content: dict[str, Any],
        state_key: str | None = None,
        *,
        prev_events: list[Event] | None = None,
        auth_events: list[Event] | None = None,
    ) -> dict[str, Any]:
        """A well-formed PDU, signed by remote.example, on top of hs's current state."""
        if auth_events is None:
            auth_events = await current_auth_events(self.hs, self.room_id, event_type, sender, content, state_key)
        return build_pdu(
            REMOTE_KEY, REMOTE, self.version, self.room_id, event_type, sender, content,
            prev_events=prev_events or await extremities(self.hs, self.room_id),
            auth_events=auth_events, state_key=state_key, origin_server_ts=next(self._ts),
        )

    def forge(
        self, pdu: dict[str, Any], *, drop: Iterable[str] = (), sign: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """`pdu` with fields changed or dropped, hashed and signed again (unless `sign` is
        false), so that only the change itself is wrong with it; what cannot be signed
        (numbers canonical JSON forbids) keeps the old signature."""
        forged = {key: value for key, value in pdu.items() if key not in set(drop)}
        forged.update(fields)
        if not sign:
            return forged
        try:
            return add_hashes_and_signatures(forged, self.version, REMOTE, REMOTE_KEY)
        except CanonicalJsonError:
            return forged

    def event_id(self, pdu: dict[str, Any]) -> str | None:
        """The ID the PDU has, if it has one at all."""
        try:
            return compute_event_id(pdu, self.version)
        except (ValueError, KeyError, TypeError, CanonicalJsonError):
            return None

    async def send(self, *pdus: dict[str, Any]) -> dict[str, dict[str, str]]:
        answer = await self.handler.on_transaction(REMOTE, f"t{next(self._txn_ids)}", {"pdus": list(pdus), "edus": []})
        return answer["pdus"]

    async def meta(self, event_id: str) -> Any:
        return (await self.hs.stores.events.get_event_meta([event_id])).get(event_id)

    async def forward_extremities(self) -> set[str]:
        return set(await self.hs.stores.events.get_forward_extremities(self.room_id))

    async def timeline(self) -> list[dict[str, Any]]:
        """The room's timeline in alice's initial /sync."""
        requester = TokenInfo(token_id=0, user_id=self.alice, device_id="ALICE", is_guest=False, expires_ts=None)
        synced = await self.hs.sync.sync(requester, since=None, sync_filter=DEFAULT_FILTER, full_state=False, timeout_ms=0)
        return synced["rooms"]["join"][self.room_id]["timeline"]["events"]


@pytest.fixture
async def peer(engine_server: HomeServer, version: str) -> Peer:
    """A public room of `version` on hs, which remote.example's bob joined."""
    hs = engine_server
    alice = f"@alice:{hs.server_name}"
    room_id = await hs.room_creator.create_room(alice, {"preset": "public_chat", "room_version": version})
    room_version = await hs.stores.rooms.get_room_version(room_id)
    assert room_version is not None and room_version.identifier == version
    p = Peer(hs, room_id, room_version)
    join = await p.pdu("m.room.member", BOB, {"membership": "join"}, BOB)
    assert await p.send(join) == {p.event_id(join): {}}
    assert BOB in await hs.stores.rooms.get_joined_members(room_id)
    return p


async def assert_dropped(peer: Peer, pdu: dict[str, Any], reason: str) -> None:
    before = await peer.forward_extremities()
    answer = await peer.send(pdu)
    event_id = peer.event_id(pdu)
    # An error under the ID the PDU claims or has, when it has one; never a success.
    assert {} not in answer.values(), answer
    for error in answer.values():
        assert reason in error["error"], (reason, answer)
    if peer.version.event_format is EventFormat.V1 and isinstance(pdu.get("event_id"), str):
        assert reason in answer[pdu["event_id"]]["error"]
    if event_id is not None:
        assert await peer.meta(event_id) is None
    assert await peer.forward_extremities() == before


async def test_bad_signatures_are_dropped(peer: Peer, version: str) -> None:
    message = await peer.pdu("m.room.message", BOB, {"body": "forged"})
    # Signed with a key that is not remote.example's.
    wrong_key = add_hashes_and_signatures(
        {k: v for k, v in message.items() if k != "signatures"}, peer.version, REMOTE, generate_signing_key("r1")
    )
    await assert_dropped(peer, wrong_key, "signature")
    await assert_dropped(peer, dict(message, signatures={}), "signature")
    # Changed after signing: the signature covers the redacted event, depth included.
    await assert_dropped(peer, dict(message, depth=message["depth"] + 1), "signature")
    # Sent by remote.example for a user of a server that did not sign it.
    other = await peer.pdu("m.room.message", "@mallory:other.example", {"body": "not mine"})
    await assert_dropped(peer, other, "signature")
    if peer.version.event_format is EventFormat.V1:
        # v1/v2: the server named in the event ID must sign too.
        foreign_id = peer.forge(message, event_id="$forged:other.example")
        await assert_dropped(peer, foreign_id, "signature")
    assert message.get("event_id", peer.event_id(message)) not in {e["event_id"] for e in await peer.timeline()}


async def test_content_hash_mismatch_keeps_and_serves_the_redacted_copy(peer: Peer, version: str) -> None:
    message = await peer.pdu("m.room.message", BOB, {"body": "original", "msgtype": "m.text"})
    tampered = dict(message, content={"body": "tampered", "msgtype": "m.text"})
    event_id = peer.event_id(tampered)
    assert event_id == peer.event_id(message)  # the reference hash leaves out the content
    assert await peer.send(tampered) == {event_id: {}}
    meta = await peer.meta(event_id)
    assert meta.rejected_reason is None and not meta.soft_failed and meta.stream_ordering is not None
    stored = await peer.hs.stores.events.get_event(event_id)
    assert stored is not None and stored.content == {}
    # What other servers and clients are given is the redacted copy.
    served = await peer.hs.federation_events.reads.get_event(REMOTE, event_id)
    assert served["content"] == {}
    [synced] = [e for e in await peer.timeline() if e["event_id"] == event_id]
    assert synced["content"] == {}
    assert await peer.forward_extremities() == {event_id}


async def test_auth_failures_are_rejected(peer: Peer, version: str) -> None:
    state_before = await peer.hs.stores.state.get_current_state_ids(peer.room_id)
    before = await peer.forward_extremities()
    # Eve never joined.
    intruder = await peer.pdu("m.room.message", EVE, {"body": "intruder"})
    # Bob (power 0) takes over the power levels, citing the real ones.
    levels = await peer.hs.stores.events.get_current_state_event(peer.room_id, "m.room.power_levels")
    assert levels is not None
    takeover = await peer.pdu(
        "m.room.power_levels", BOB, {**levels.content, "users": {BOB: 100}}, "",
    )
    # Bob's message citing only his own join: the create event (before v12), the power
    # levels are missing, so the rules cannot allow it... and a v12 event must not cite
    # the create event.
    join = await peer.hs.stores.events.get_current_state_event(peer.room_id, "m.room.member", BOB)
    create = await peer.hs.stores.events.get_current_state_event(peer.room_id, "m.room.create")
    assert join is not None and create is not None
    wrong_auth = [join] if not peer.version.room_id_from_create_event else [create, join]
    miscited = await peer.pdu("m.room.topic", BOB, {"topic": "mine"}, "", auth_events=wrong_auth)

    for pdu in (intruder, takeover, miscited):
        event_id = peer.event_id(pdu)
        answer = await peer.send(pdu)
        assert answer[event_id]["error"].startswith("rejected:"), answer
        meta = await peer.meta(event_id)
        assert meta is not None and meta.rejected_reason is not None and not meta.outlier
        with pytest.raises(MatrixError):
            await peer.hs.federation_events.reads.get_event(REMOTE, event_id)
    assert await peer.forward_extremities() == before
    assert await peer.hs.stores.state.get_current_state_ids(peer.room_id) == state_before
    shown = {e["event_id"] for e in await peer.timeline()}
    assert not shown & {peer.event_id(p) for p in (intruder, takeover, miscited)}


async def test_events_the_current_state_forbids_are_soft_failed(peer: Peer, version: str) -> None:
    before_ban = await extremities(peer.hs, peer.room_id)
    auth_before_ban = await current_auth_events(peer.hs, peer.room_id, "m.room.message", BOB, {}, None)
    ban = await peer.hs.sender.send(
        peer.room_id, peer.alice, EventDraft("m.room.member", {"membership": "ban"}, state_key=BOB)
    )
    # remote.example pretends not to have seen the ban.
    evading = await peer.pdu(
        "m.room.message", BOB, {"body": "still here"}, prev_events=before_ban, auth_events=auth_before_ban
    )
    event_id = peer.event_id(evading)
    assert await peer.send(evading) == {event_id: {}}
    meta = await peer.meta(event_id)
    assert meta is not None and meta.soft_failed and meta.rejected_reason is None
    assert await peer.forward_extremities() == {ban.event_id}
    assert event_id not in {e["event_id"] for e in await peer.timeline()}
    member = await peer.hs.stores.events.get_current_state_event(peer.room_id, "m.room.member", BOB)
    assert member is not None and member.membership == "ban"


async def test_events_not_in_the_format_of_their_room_version_are_dropped(peer: Peer, version: str) -> None:
    rv = peer.version
    message = await peer.pdu("m.room.message", BOB, {"body": "x"})
    prev_id = (await extremities(peer.hs, peer.room_id))[0].event_id
    auth_ids = [e.event_id for e in await current_auth_events(peer.hs, peer.room_id, "m.room.message", BOB, {}, None)]

    for field in ("type", "sender", "content", "depth", "origin_server_ts", "prev_events", "auth_events"):
        await assert_dropped(peer, peer.forge(message, drop=[field]), field)
    await assert_dropped(peer, peer.forge(message, drop=["hashes"], sign=False), "hashes")
    await assert_dropped(peer, peer.forge(message, hashes={"sha256": 5}, sign=False), "hashes")
    await assert_dropped(peer, peer.forge(message, signatures={REMOTE: "sig"}, sign=False), "signatures")
    await assert_dropped(peer, peer.forge(message, drop=["room_id"]), "room_id")
    await assert_dropped(peer, peer.forge(message, content="x"), "content")
    await assert_dropped(peer, peer.forge(message, state_key=5), "state_key")

    if rv.event_format is EventFormat.V1:
        await assert_dropped(peer, peer.forge(message, drop=["event_id"]), "event_id")
        # Plain event IDs are the format of v3 and later.
        await assert_dropped(peer, peer.forge(message, prev_events=[prev_id]), "prev_events")
        await assert_dropped(peer, peer.forge(message, auth_events=auth_ids), "auth_events")
        await assert_dropped(peer, peer.forge(message, event_id="$" + "A" * 43), "event_id")
    else:
        # An event ID field, and [id, hashes] pairs, are the format of v1 and v2.
        await assert_dropped(peer, peer.forge(message, event_id=peer.event_id(message)), "event_id")
        pairs = {"prev_events": [[prev_id, {"sha256": "x"}]]}
        await assert_dropped(peer, peer.forge(message, **pairs), "prev_events")
        await assert_dropped(
            peer, peer.forge(message, auth_events=[[a, {"sha256": "x"}] for a in auth_ids]), "auth_events"
        )
        v1_style = "$abc:" + REMOTE
        await assert_dropped(peer, peer.forge(message, prev_events=[v1_style]), "prev_events")
        # v3 IDs are standard base64, v4+ URL-safe.
        other_alphabet = "$" + ("-" if rv.event_format is EventFormat.V3 else "+") * 43
        await assert_dropped(peer, peer.forge(message, prev_events=[other_alphabet]), "prev_events")

    # A room ID of the other form names no room of this server (v12 rooms are named
    # after their create event, older ones by their server).
    if rv.room_id_from_create_event:
        other_form = "!" + peer.room_id[1:] + ":" + REMOTE
    else:
        other_form = "!" + "A" * 43
    await assert_dropped(peer, peer.forge(message, room_id=other_form), "not in room")

    # A v12 create event has no room ID, so no room to be delivered to.
    if rv.room_id_from_create_event:
        create = peer.forge(message, type="m.room.create", state_key="", content={}, drop=["room_id"])
        await assert_dropped(peer, create, "room_id")


async def test_events_beyond_the_bounds_are_dropped(peer: Peer, version: str) -> None:
    message = await peer.pdu("m.room.message", BOB, {"body": "x"})
    prev_ids = list(message["prev_events"])
    auth_ids = list(message["auth_events"])

    oversize = await peer.pdu("m.room.message", BOB, {"body": "x" * 70_000})
    await assert_dropped(peer, oversize, "bytes")
    many_prev = prev_ids * (MAX_PREV_EVENTS + 1)
    await assert_dropped(peer, peer.forge(message, prev_events=many_prev), "prev_events")
    many_auth = (auth_ids * (MAX_AUTH_EVENTS + 1))[: MAX_AUTH_EVENTS + 1]
    await assert_dropped(peer, peer.forge(message, auth_events=many_auth), "auth_events")
    for depth in (2**53, 2**63, -1):
        await assert_dropped(peer, peer.forge(message, depth=depth), "depth")
    for depth in ("5", 5.0, True, None):
        await assert_dropped(peer, peer.forge(message, depth=depth), "depth")
    await assert_dropped(peer, peer.forge(message, origin_server_ts=-1), "origin_server_ts")
    with pytest.raises(MatrixError) as refused:
        await peer.send(*[message] * 51)
    assert refused.value.errcode == "M_BAD_JSON"

    # The honest original still goes through afterwards.
    assert await peer.send(message) == {peer.event_id(message): {}}
