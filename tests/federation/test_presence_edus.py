"""m.presence EDUs received in PUT /send (server-server-api.md "Presence"), on SQLite and
PostgreSQL: a server speaks only for its own users, presence is kept only for users who
share a room with a local user, and only local users sharing a room with them see it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from veche.errors import MatrixError
from veche.homeserver import HomeServer
from veche.services.federation.event_checks import EventVerifier
from veche.services.federation.receiver import PduReceiver
from veche.services.rooms.sending import EventDraft

from .room_setup import as_event, build_pdu, current_auth_events, extremities
from .test_receive import REMOTE, REMOTE_KEY, StubKeyring, StubRemote

BOB = f"@bob:{REMOTE}"
CAROL = f"@carol:{REMOTE}"
MALLORY = "@mallory:other.example"


class Setting:
    """alice and dave live here; alice's room has remote.example's bob in it, dave's
    room has only dave; carol of remote.example is in no room of ours."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.alice, self.dave = f"@alice:{hs.server_name}", f"@dave:{hs.server_name}"
        self.presence = hs.user_data.presence
        self._txn_ids = itertools.count()

    async def join_bob(self, room_id: str) -> None:
        receiver = PduReceiver(
            stores=self.hs.stores,
            sender=self.hs.sender,
            verifier=EventVerifier(StubKeyring({REMOTE: REMOTE_KEY})),  # type: ignore[arg-type]
            remote=StubRemote(),  # type: ignore[arg-type]
            acl=self.hs.federation.acl,
        )
        version = await self.hs.stores.rooms.get_room_version(room_id)
        assert version is not None
        content = {"membership": "join"}
        pdu = build_pdu(
            REMOTE_KEY, REMOTE, version, room_id, "m.room.member", BOB, content,
            prev_events=await extremities(self.hs, room_id),
            auth_events=await current_auth_events(self.hs, room_id, "m.room.member", BOB, content, BOB),
            state_key=BOB, origin_server_ts=self.hs.sender.now_ms(),
        )
        assert (await receiver.receive_pdu(REMOTE, as_event(pdu, version).pdu)).rejected_reason is None

    async def push(self, origin: str, *items: dict[str, Any]) -> None:
        edu = {"edu_type": "m.presence", "content": {"push": list(items)}}
        await self.hs.federation_events.transactions.on_transaction(
            origin, f"p{next(self._txn_ids)}", {"pdus": [], "edus": [edu]}
        )

    async def seen_by(self, user_id: str, since: int) -> dict[str, str]:
        """Whose presence `user_id`'s /sync shows after `since`, and as what."""
        events = await self.presence.presence_for_user(user_id, since)
        return {e["sender"]: e["content"]["presence"] for e in events}

    async def kept(self, user_id: str) -> bool:
        """Whether any presence of the (remote) user is stored here."""
        try:
            await self.presence.get_status(user_id, user_id)
        except MatrixError:
            return False
        return True


def online(user_id: str, **extra: Any) -> dict[str, Any]:
    return {"user_id": user_id, "presence": "online", "last_active_ago": 10, "currently_active": True, **extra}


@pytest.fixture
async def setting(engine_server: HomeServer) -> tuple[Setting, str]:
    s = Setting(engine_server)
    room_id = await engine_server.room_creator.create_room(s.alice, {"preset": "public_chat"})
    await engine_server.room_creator.create_room(s.dave, {"preset": "private_chat"})
    await s.join_bob(room_id)
    return s, room_id


async def test_presence_of_a_user_sharing_a_room_reaches_only_those_sharing_it(setting: tuple[Setting, str]) -> None:
    s, _ = setting
    since = s.presence.current_position()
    await s.push(REMOTE, online(BOB, status_msg="here"))
    assert await s.seen_by(s.alice, since) == {BOB: "online"}
    assert await s.seen_by(s.dave, since) == {}
    status = await s.presence.get_status(s.alice, BOB)
    assert status["presence"] == "online" and status["status_msg"] == "here"


async def test_presence_of_users_sharing_no_room_is_ignored(setting: tuple[Setting, str]) -> None:
    s, _ = setting
    since = s.presence.current_position()
    await s.push(REMOTE, online(CAROL))
    assert not await s.kept(CAROL)
    assert s.presence.current_position() == since
    assert await s.seen_by(s.alice, since) == {}


async def test_a_server_speaks_only_for_its_own_users(setting: tuple[Setting, str]) -> None:
    s, _ = setting
    since = s.presence.current_position()
    # other.example claims bob's presence; remote.example claims a user of other.example.
    await s.push("other.example", online(BOB))
    await s.push(REMOTE, online(MALLORY), online(s.alice))
    assert not await s.kept(BOB) and not await s.kept(MALLORY)
    assert await s.seen_by(s.alice, since) == {}
    assert s.presence.current_position() == since


async def test_presence_stops_being_kept_once_no_room_is_shared(setting: tuple[Setting, str]) -> None:
    s, room_id = setting
    await s.push(REMOTE, online(BOB))
    assert await s.kept(BOB)
    await s.hs.sender.send(room_id, s.alice, EventDraft("m.room.member", {"membership": "ban"}, state_key=BOB))
    since = s.presence.current_position()
    await s.push(REMOTE, {"user_id": BOB, "presence": "unavailable"})
    assert s.presence.current_position() == since
    assert await s.seen_by(s.alice, since) == {}
