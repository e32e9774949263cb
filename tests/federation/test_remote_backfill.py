"""Two Veche servers over TLS: a user of B who joins a room of A later reads the history
from before the join through /messages, B backfilling it from A; incremental /sync never
replays it, B's current state and forward extremities stay as they were, and forged or
invalid events in a /backfill answer are dropped, redacted or rejected."""

from __future__ import annotations

import time
from typing import Any

import pytest

from veche.homeserver import HomeServer
from veche.protocol.event_ids import compute_event_id
from veche.protocol.events import Event
from veche.protocol.filters import DEFAULT_FILTER, RoomEventFilter
from veche.services.rooms.sending import EventDraft
from veche.services.streams import StreamToken
from veche.storage.accounts import TokenInfo

from .room_setup import build_pdu, current_auth_events
from .test_send import wait_for

HISTORY = 25


def requester(user_id: str) -> TokenInfo:
    return TokenInfo(token_id=0, user_id=user_id, device_id="DEVICE", is_guest=False, expires_ts=None)


async def read_back(hs: HomeServer, user_id: str, room_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """Every event /messages gives the user from the end backwards, page by page."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(50):
        page = await hs.room_reader.messages(
            requester(user_id), room_id, direction="b", from_token=token, to_token=None, limit=limit,
            event_filter=RoomEventFilter(), now_ms=int(time.time() * 1000),
        )
        events += page["chunk"]
        token = page.get("end")
        if token is None:
            return events
    raise AssertionError("pagination did not end")


def bodies(events: list[dict[str, Any]]) -> list[str]:
    return [e["content"]["body"] for e in events if e["type"] == "m.room.message" and "body" in e["content"]]


async def room_with_history(a: HomeServer, version: str) -> tuple[str, str, list[Event]]:
    alice = f"@alice:{a.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": version})
    sent = [
        await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": f"before {n}"}))
        for n in range(HISTORY)
    ]
    return room_id, alice, sent


@pytest.mark.parametrize("version", ["1", "10", "12"])
async def test_history_before_joining_is_backfilled(servers: tuple[HomeServer, HomeServer], version: str) -> None:
    a, b = servers
    bob = f"@bob:{b.server_name}"
    room_id, _, _ = await room_with_history(a, version)
    await b.membership.join(bob, room_id, via=[a.server_name])
    joined = await b.sync.sync(requester(bob), since=None, sync_filter=DEFAULT_FILTER, full_state=False, timeout_ms=0)
    extremities = await b.stores.events.get_forward_extremities(room_id)
    state = await b.stores.state.get_current_state_ids(room_id)

    events = await read_back(b, bob, room_id)
    expected = [f"before {n}" for n in reversed(range(HISTORY))]
    assert bodies(events) == expected
    # All the way to the room's creation, each event once.
    assert events[-1]["type"] == "m.room.create"
    assert len({e["event_id"] for e in events}) == len(events)
    assert await b.stores.events.get_backward_extremities(room_id, 2**62) == []

    # History is not news: /sync since the join shows none of it, nor does anything else move.
    since = StreamToken.parse(joined["next_batch"])
    later = await b.sync.sync(requester(bob), since=since, sync_filter=DEFAULT_FILTER, full_state=False, timeout_ms=0)
    assert room_id not in later.get("rooms", {}).get("join", {})
    assert await b.stores.events.get_forward_extremities(room_id) == extremities
    assert await b.stores.state.get_current_state_ids(room_id) == state

    # Reading again asks nobody: the history is held.
    calls = 0
    original = a.federation_backfill.backfill

    async def counting(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(*args)

    a.federation_backfill.backfill = counting  # type: ignore[method-assign]
    assert bodies(await read_back(b, bob, room_id, limit=7)) == expected
    assert calls == 0

    # New events still reach B's timeline and /sync as before.
    after = await a.sender.send(room_id, f"@alice:{a.server_name}", EventDraft("m.room.message", {"body": "after"}))

    async def b_has_it() -> bool:
        return await b.stores.events.get_event(after.event_id) is not None

    await wait_for(b_has_it)
    news = await b.sync.sync(requester(bob), since=since, sync_filter=DEFAULT_FILTER, full_state=False, timeout_ms=0)
    timeline = news["rooms"]["join"][room_id]["timeline"]["events"]
    assert bodies(timeline) == ["after"]


async def test_history_the_user_may_not_see_is_fetched_but_not_shown(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": "12"})
    await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "shared"}))
    await a.sender.send(
        room_id, alice, EventDraft("m.room.history_visibility", {"history_visibility": "joined"}, "")
    )
    private = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "private"}))
    await b.membership.join(bob, room_id, via=[a.server_name])
    # A serves history as visibility lets B's server see it: under `joined`, "private"
    # comes redacted. B holds it, but shows Bob only what his own visibility allows.
    events = await read_back(b, bob, room_id)
    assert "shared" in bodies(events)
    assert await b.stores.events.get_event(private.event_id) is not None
    assert private.event_id not in {e["event_id"] for e in events}


async def test_forged_and_invalid_backfilled_events(
    servers: tuple[HomeServer, HomeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    bob = f"@bob:{b.server_name}"
    room_id, alice, sent = await room_with_history(a, "12")
    room_version = await a.stores.rooms.get_room_version(room_id)
    assert room_version is not None
    base, tampered = sent[HISTORY - 3], sent[HISTORY - 2]
    mallory = f"@mallory:{a.server_name}"
    auth = await current_auth_events(a, room_id, "m.room.message", alice, {}, None)
    # Signed by nobody: must be dropped.
    unsigned = build_pdu(a.signing_key, a.server_name, room_version, room_id, "m.room.message", alice,
                         {"body": "unsigned"}, prev_events=[base], auth_events=auth, sign=False)
    # Signed by A but sent by someone never in the room: must be rejected.
    outsider = build_pdu(a.signing_key, a.server_name, room_version, room_id, "m.room.message", mallory,
                         {"body": "outsider"}, prev_events=[base], auth_events=auth)
    genuine = a.federation_backfill.backfill

    async def forging(origin: str, room: str, from_ids: list[str], limit: int) -> list[dict[str, Any]]:
        pdus = await genuine(origin, room, from_ids, limit)
        for pdu in pdus:
            # A changed body keeps the event ID (it hashes the redacted event, which has
            # no content but the content hash): the receiver keeps the redacted copy.
            if compute_event_id(pdu, room_version) == tampered.event_id:
                pdu["content"] = {"body": "tampered", "msgtype": "m.text"}
        return [*pdus, unsigned, outsider]

    monkeypatch.setattr(a.federation_backfill, "backfill", forging)
    await b.membership.join(bob, room_id, via=[a.server_name])
    events = await read_back(b, bob, room_id)
    seen = bodies(events)
    assert "unsigned" not in seen and "outsider" not in seen and "tampered" not in seen
    assert seen == [f"before {n}" for n in reversed(range(HISTORY)) if n != HISTORY - 2]
    kept = await b.stores.events.get_event(tampered.event_id)
    assert kept is not None and kept.content == {} and kept.rejected_reason is None

    unsigned_id = compute_event_id(unsigned, room_version)
    outsider_id = compute_event_id(outsider, room_version)
    assert await b.stores.events.have_events([unsigned_id]) == set()
    rejected = await b.stores.events.get_event(outsider_id)
    assert rejected is not None and rejected.rejected_reason is not None


async def test_redactions_and_edits_in_backfilled_history_apply(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": "12"})
    secret = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "secret"}))
    typo = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "helo"}))
    await a.sender.send(room_id, alice, EventDraft("m.room.redaction", {"redacts": secret.event_id}))
    await a.sender.send(room_id, alice, EventDraft("m.room.message", {
        "body": "* hello", "m.new_content": {"body": "hello"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": typo.event_id},
    }))
    await b.membership.join(bob, room_id, via=[a.server_name])

    events = {e["event_id"]: e for e in await read_back(b, bob, room_id)}
    assert "body" not in events[secret.event_id]["content"]
    assert "redacted_because" in events[secret.event_id]["unsigned"]
    replaced = events[typo.event_id]["unsigned"]["m.relations"]["m.replace"]
    assert replaced["content"]["m.new_content"] == {"body": "hello"}


@pytest.mark.parametrize("version", ["10", "12"])
async def test_backfilled_events_have_the_state_the_origin_has(
    servers: tuple[HomeServer, HomeServer], version: str
) -> None:
    a, b = servers
    alice, carol, bob = f"@alice:{a.server_name}", f"@carol:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": version})
    history = [await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "first"}))]
    await a.membership.join(carol, room_id)
    for n in range(3):
        history.append(await a.sender.send(room_id, carol, EventDraft("m.room.message", {"body": f"carol {n}"})))
        history.append(await a.sender.send(room_id, alice, EventDraft("m.room.topic", {"topic": f"t{n}"}, "")))
    await a.membership.leave(carol, room_id)
    history.append(await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "last"})))
    await b.membership.join(bob, room_id, via=[a.server_name])

    events = await read_back(b, bob, room_id, limit=5)
    assert bodies(events) == ["last", "carol 2", "carol 1", "carol 0", "first"]
    all_ids = [e["event_id"] for e in events]
    for event_id in all_ids:
        assert await b.stores.state.get_state_ids_after(event_id) == await a.stores.state.get_state_ids_after(event_id)
    metas = await b.stores.events.get_event_meta(all_ids)
    assert all(m.rejected_reason is None and not m.outlier for m in metas.values())


async def test_a_server_with_nothing_older_is_not_asked_again(
    servers: tuple[HomeServer, HomeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = servers
    bob = f"@bob:{b.server_name}"
    room_id, _, _ = await room_with_history(a, "12")
    calls = 0

    async def nothing(origin: str, room: str, from_ids: list[str], limit: int) -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        return []

    monkeypatch.setattr(a.federation_backfill, "backfill", nothing)
    await b.membership.join(bob, room_id, via=[a.server_name])
    assert [e["type"] for e in await read_back(b, bob, room_id)] == ["m.room.member"]
    assert calls == 1
    await read_back(b, bob, room_id)
    assert calls == 1


async def test_a_hole_in_the_middle_of_the_timeline_is_filled(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    room_id = await a.room_creator.create_room(alice, {"preset": "public_chat", "room_version": "12"})
    await b.membership.join(bob, room_id, via=[a.server_name])
    # Events B never hears of, more than /get_missing_events bridges (10): a hole remains.
    hook = a.federation_events.sender.on_event
    a.sender.after_persist.remove(hook)
    try:
        for n in range(15):
            await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": f"unsent {n}"}))
    finally:
        a.sender.after_persist.append(hook)
    last = await a.sender.send(room_id, alice, EventDraft("m.room.message", {"body": "announced"}))

    async def b_has_it() -> bool:
        return await b.stores.events.get_event(last.event_id) is not None

    await wait_for(b_has_it)
    assert await b.stores.events.get_backward_extremities(room_id, 2**62) != []
    seen = bodies(await read_back(b, bob, room_id, limit=4))
    assert seen == ["announced", *[f"unsent {n}" for n in reversed(range(15))]]
