"""Veche driven by mautrix-python (PyPI `mautrix`), the library bridges and maubot bots are
built on, used the way a bot uses it: password login, the `Client.start()` sync loop with
event handlers (invites accepted from a handler), and the room, state, account data,
receipt, media, profile, directory, filter and key calls a bot or bridge makes.

mautrix mostly logs rather than raises when it cannot read what a server sent (a /sync
event it cannot deserialize becomes a warning and a GenericEvent), so every test also
fails on a warning or error logged under mautrix's loggers."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
import canonicaljson
import nacl.signing
import nacl.utils
import pytest
import unpaddedbase64
from PIL import Image

mautrix = pytest.importorskip("mautrix")

from mautrix.api import MediaPath, Method, Path  # noqa: E402
from mautrix.client import Client, InternalEventType, SyncStream  # noqa: E402
from mautrix.client.state_store import MemoryStateStore, MemorySyncStore  # noqa: E402
from mautrix.errors import MForbidden, MNotFound, MUnknownToken  # noqa: E402
from mautrix.types import (  # noqa: E402
    CrossSigningKeys,
    CrossSigningUsage,
    DeviceKeys,
    DeviceLists,
    DeviceOTKCount,
    EncryptionKeyAlgorithm,
    EventFilter,
    EventType,
    Filter,
    Format,
    ImageInfo,
    InReplyTo,
    JoinRule,
    LoginType,
    MatrixUserIdentifier,
    Membership,
    MessageType,
    PaginationDirection,
    PowerLevelStateEventContent,
    PresenceState,
    PushActionType,
    PushRuleKind,
    PushRuleScope,
    ReceiptType,
    RelatesTo,
    RelationType,
    RoomCreatePreset,
    RoomDirectoryVisibility,
    RoomEventFilter,
    RoomFilter,
    RoomTopicStateEventContent,
    StateEvent,
    TextMessageEventContent,
)

PASSWORD = "bot password"


class LogTrap(logging.Handler):
    """Keeps what mautrix logs at WARNING or above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def mautrix_warnings() -> Iterator[LogTrap]:
    trap = LogTrap()
    loggers = [logging.getLogger(name) for name in ("mau", "mautrix")]
    for logger in loggers:
        logger.addHandler(trap)
    try:
        yield trap
    finally:
        for logger in loggers:
            logger.removeHandler(trap)
    assert not trap.records, [f"{r.name}: {r.getMessage()}" for r in trap.records]


@dataclass
class Bot:
    """A logged-in mautrix Client and every event its sync loop has handed to handlers."""

    client: Client
    events: list = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def record(self, event) -> None:
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, what: str, predicate: Callable, timeout: float = 10.0):
        """The first event handed to handlers that `predicate` accepts."""
        async def seek():
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self.arrived.clear()
                await self.arrived.wait()

        try:
            return await asyncio.wait_for(seek(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.client.mxid} never saw {what}") from None


async def register(session: aiohttp.ClientSession, base_url: str, localpart: str) -> None:
    # mautrix has no registration helper (bots get accounts made for them), so this goes
    # through its raw request method, with the dummy stage of user-interactive auth.
    api = Client(base_url=base_url, client_session=session).api
    await api.request(
        Method.POST,
        Path.v3.register,
        {
            "username": localpart,
            "password": PASSWORD,
            "auth": {"type": "m.login.dummy"},
            "inhibit_login": True,
        },
    )


async def log_in(session: aiohttp.ClientSession, base_url: str, user_id: str) -> Bot:
    client = Client(
        mxid=user_id, base_url=base_url, client_session=session, state_store=MemoryStateStore()
    )
    flows = await client.get_login_flows()
    assert flows.supports_type(LoginType.PASSWORD)
    login = await client.login(password=PASSWORD, device_name="mautrix bot")
    assert login.user_id == user_id and login.device_id and login.access_token
    assert client.api.token == login.access_token
    whoami = await client.whoami()
    assert whoami.user_id == user_id and whoami.device_id == login.device_id
    bot = Bot(client)
    client.add_event_handler(EventType.ALL, bot.record)
    return bot


def accept_invites(bot: Bot) -> None:
    """A bot's usual invite handler: join every room it is invited to."""

    async def on_member(event: StateEvent) -> None:
        if (
            event.source & SyncStream.INVITED_ROOM
            and event.state_key == bot.client.mxid
            and event.content.membership == Membership.INVITE
        ):
            await bot.client.join_room_by_id(event.room_id)

    bot.client.add_event_handler(EventType.ROOM_MEMBER, on_member)


SYNC_FILTER = Filter(
    room=RoomFilter(
        timeline=RoomEventFilter(limit=50, lazy_load_members=True),
        state=RoomEventFilter(lazy_load_members=True),
        include_leave=True,
    ),
    presence=EventFilter(not_types=[EventType.PRESENCE]),
)


@pytest.fixture
async def bots(base_url: str, mautrix_warnings: LogTrap) -> AsyncIterator[tuple[Bot, Bot]]:
    async with aiohttp.ClientSession() as session:
        made = []
        for name in ("alice", "bob"):
            await register(session, base_url, name)
            made.append(await log_in(session, base_url, f"@{name}:veche.test"))
        try:
            yield made[0], made[1]
        finally:
            for bot in made:
                bot.client.stop()


def in_room(room_id: str, event_type: EventType) -> Callable:
    return lambda e: getattr(e, "room_id", None) == room_id and e.type == event_type


async def test_bot_conversation(bots):
    alice, bob = bots
    accept_invites(bob)
    responses: list[dict] = []

    async def on_sync(data: dict) -> None:
        responses.append(data["data"])

    alice.client.add_event_handler(InternalEventType.SYNC_SUCCESSFUL, on_sync)
    alice.client.start(SYNC_FILTER)
    bob.client.start(SYNC_FILTER)

    room_id = await alice.client.create_room(
        alias_localpart="bots",
        preset=RoomCreatePreset.PRIVATE,
        name="Bot room",
        topic="Beep",
        initial_state=[
            {"type": "m.room.guest_access", "state_key": "",
             "content": {"guest_access": "forbidden"}},
            {"type": "org.example.bot.config", "state_key": "", "content": {"prefix": "!"}},
        ],
        # In room version 12 (Veche's default) the creator has unbounded power and may not
        # be listed in `users`, so the override leaves alice out.
        power_level_override={"events_default": 0, "events": {"org.example.bot.config": 100}},
    )
    resolved = await bob.client.resolve_room_alias("#bots:veche.test")
    assert resolved.room_id == room_id and "veche.test" in resolved.servers

    await alice.client.invite_user(room_id, bob.client.mxid)
    invite = await bob.wait_for("the invite", lambda e: (
        in_room(room_id, EventType.ROOM_MEMBER)(e) and e.source & SyncStream.INVITED_ROOM
    ))
    assert invite.sender == alice.client.mxid and invite.state_key == bob.client.mxid
    stripped = {e.type: e.content for e in invite.unsigned.invite_room_state}
    assert stripped[EventType.ROOM_NAME].name == "Bot room"
    assert stripped[EventType.ROOM_JOIN_RULES].join_rule == JoinRule.INVITE
    assert stripped[EventType.ROOM_CANONICAL_ALIAS].canonical_alias == "#bots:veche.test"
    await alice.wait_for("bob's join", lambda e: in_room(room_id, EventType.ROOM_MEMBER)(e)
                         and e.state_key == bob.client.mxid
                         and e.content.membership == Membership.JOIN)
    assert room_id in await bob.client.get_joined_rooms()
    # The bot learnt the room's name and its initial state from its own sync.
    await bob.wait_for("the room name", lambda e: in_room(room_id, EventType.ROOM_NAME)(e)
                       and e.content.name == "Bot room")

    hello = await alice.client.send_text(room_id, "hello", html="<b>hello</b>")
    notice = await alice.client.send_notice(room_id, "I am a bot")
    got = await bob.wait_for("hello", lambda e: getattr(e, "event_id", None) == hello)
    assert got.type == EventType.ROOM_MESSAGE and got.sender == alice.client.mxid
    assert got.content.msgtype == MessageType.TEXT and got.content.body == "hello"
    assert got.content.format == Format.HTML and got.content.formatted_body == "<b>hello</b>"
    assert got.source & SyncStream.TIMELINE
    got = await bob.wait_for("the notice", lambda e: getattr(e, "event_id", None) == notice)
    assert got.content.msgtype == MessageType.NOTICE

    reply_content = TextMessageEventContent(msgtype=MessageType.TEXT, body="hi alice")
    reply_content.relates_to = RelatesTo(in_reply_to=InReplyTo(event_id=hello))
    reply = await bob.client.send_message(room_id, reply_content)
    got = await alice.wait_for("bob's reply", lambda e: getattr(e, "event_id", None) == reply)
    assert got.content.get_reply_to() == hello

    reaction = await bob.client.react(room_id, hello, "👍")
    got = await alice.wait_for("the reaction", lambda e: getattr(e, "event_id", None) == reaction)
    assert got.type == EventType.REACTION
    assert got.content.relates_to.rel_type == RelationType.ANNOTATION
    assert got.content.relates_to.event_id == hello and got.content.relates_to.key == "👍"

    edit_content = TextMessageEventContent(msgtype=MessageType.TEXT, body="hello, bob")
    edit_content.set_edit(hello)
    edit = await alice.client.send_message(room_id, edit_content)
    got = await bob.wait_for("the edit", lambda e: getattr(e, "event_id", None) == edit)
    assert got.content.get_edit() == hello
    assert got.content.body == "hello, bob"  # mautrix folds m.new_content into the content

    oops = await bob.client.send_text(room_id, "oops")
    redaction = await bob.client.redact(room_id, oops, reason="typo")
    got = await alice.wait_for("the redaction", lambda e: getattr(e, "event_id", None) == redaction)
    assert got.type == EventType.ROOM_REDACTION and got.redacts == oops
    assert got.content.reason == "typo"
    # mautrix's event types keep neither a redacted event's empty content nor
    # unsigned.redacted_because, so this reads the event through its raw request.
    raw = await alice.client.api.request(Method.GET, Path.v3.rooms[room_id].event[oops])
    assert raw["content"] == {} and raw["unsigned"]["redacted_because"]["event_id"] == redaction

    fetched = await bob.client.get_event(room_id, hello)
    assert fetched.content.body == "hello" and fetched.sender == alice.client.mxid
    messages = await bob.client.get_messages(room_id, PaginationDirection.BACKWARD, limit=20)
    assert hello in [e.event_id for e in messages.events]
    context = await bob.client.get_event_context(room_id, hello, limit=4)
    assert context.event.event_id == hello

    await bob.client.set_typing(room_id, timeout=10_000)
    await alice.wait_for("bob typing", lambda e: in_room(room_id, EventType.TYPING)(e)
                         and bob.client.mxid in e.content.user_ids)
    await bob.client.set_typing(room_id, timeout=0)
    await alice.wait_for("bob stopped typing", lambda e: in_room(room_id, EventType.TYPING)(e)
                         and bob.client.mxid not in e.content.user_ids)

    await bob.client.send_receipt(room_id, notice)
    got = await alice.wait_for("bob's receipt", lambda e: in_room(room_id, EventType.RECEIPT)(e)
                               and notice in e.content)
    assert bob.client.mxid in got.content[notice][ReceiptType.READ]
    await bob.client.set_fully_read_marker(room_id, fully_read=reply, read_receipt=reply)
    # mautrix's sync loop hands on only global account data, not a joined room's, so the
    # bot reads its marker back directly.
    assert await bob.client.get_account_data("m.fully_read", room_id) == {"event_id": reply}
    await alice.wait_for("bob's read receipt from read_markers",
                         lambda e: in_room(room_id, EventType.RECEIPT)(e) and reply in e.content)

    await bob.client.leave_room(room_id, reason="bye")
    left = await bob.wait_for("his own leave", lambda e: (
        in_room(room_id, EventType.ROOM_MEMBER)(e) and e.state_key == bob.client.mxid
        and e.content.membership == Membership.LEAVE
    ))
    assert left.source & SyncStream.LEFT_ROOM and left.content.reason == "bye"
    await alice.wait_for("bob's leave", lambda e: (
        in_room(room_id, EventType.ROOM_MEMBER)(e) and e.state_key == bob.client.mxid
        and e.content.membership == Membership.LEAVE and e.source & SyncStream.JOINED_ROOM
    ))
    await bob.client.forget_room(room_id)
    assert room_id not in await bob.client.get_joined_rooms()
    alice.client.stop()
    bob.client.stop()
    # Both loops sync with set_presence=online, but the filter leaves presence out.
    assert len(responses) > 5
    assert not [r["presence"] for r in responses if r.get("presence", {}).get("events")]


async def test_bot_room_state(bots):
    alice, bob = bots
    room_id = await alice.client.create_room(
        preset=RoomCreatePreset.PUBLIC, name="State room", invitees=[bob.client.mxid]
    )
    await bob.client.join_room(room_id)

    await alice.client.send_state_event(
        room_id, EventType.ROOM_TOPIC, RoomTopicStateEventContent(topic="New topic")
    )
    await alice.client.send_state_event(room_id, EventType.ROOM_NAME, {"name": "Renamed"})
    state = await alice.client.get_state(room_id)
    create = next(e for e in state if e.type == EventType.ROOM_CREATE)
    assert create.content.supports_creator_power  # room version 12: creators outrank everyone
    levels = await alice.client.get_state_event(room_id, EventType.ROOM_POWER_LEVELS)
    assert isinstance(levels, PowerLevelStateEventContent)
    assert levels.get_user_level(alice.client.mxid, create) > 100
    assert alice.client.mxid not in levels.users
    assert levels.get_user_level(bob.client.mxid, create) == 0
    assert not levels.ensure_user_level(alice.client.mxid, 100, create)
    levels.set_user_level(bob.client.mxid, 50)
    levels.events[EventType.ROOM_TOPIC] = 50
    await alice.client.send_state_event(room_id, EventType.ROOM_POWER_LEVELS, levels)

    topic = await bob.client.get_state_event(room_id, EventType.ROOM_TOPIC)
    assert topic.topic == "New topic"
    assert (await bob.client.get_state_event(room_id, EventType.ROOM_NAME)).name == "Renamed"
    levels = await bob.client.get_state_event(room_id, EventType.ROOM_POWER_LEVELS)
    assert levels.get_user_level(bob.client.mxid) == 50
    assert levels.get_event_level(EventType.ROOM_TOPIC) == 50
    await bob.client.send_state_event(room_id, EventType.ROOM_TOPIC, {"topic": "Bob's topic"})
    with pytest.raises(MForbidden):
        await bob.client.send_state_event(room_id, EventType.ROOM_POWER_LEVELS, levels)
    with pytest.raises(MNotFound):
        await bob.client.get_state_event(room_id, EventType.ROOM_AVATAR)

    state = await bob.client.get_state(room_id)
    by_key = {(e.type, e.state_key): e for e in state}
    assert by_key[(EventType.ROOM_CREATE, "")].sender == alice.client.mxid
    assert by_key[(EventType.ROOM_TOPIC, "")].content.topic == "Bob's topic"
    assert by_key[(EventType.ROOM_MEMBER, bob.client.mxid)].content.membership == Membership.JOIN

    joined = await bob.client.get_joined_members(room_id)
    assert set(joined) == {alice.client.mxid, bob.client.mxid}
    assert joined[alice.client.mxid].displayname == "alice"
    members = await bob.client.get_members(room_id)
    assert {e.state_key for e in members} == {alice.client.mxid, bob.client.mxid}
    assert all(e.content.membership == Membership.JOIN for e in members)

    # The state store mautrix keeps from these calls answers a bot's usual questions.
    store = bob.client.state_store
    assert await store.is_joined(room_id, alice.client.mxid)
    assert await store.has_power_level(room_id, alice.client.mxid, EventType.ROOM_POWER_LEVELS)
    assert not await store.has_power_level(room_id, bob.client.mxid, EventType.ROOM_POWER_LEVELS)
    assert await store.has_power_level(room_id, bob.client.mxid, EventType.ROOM_TOPIC)

    await bob.client.leave_room(room_id)
    members = await alice.client.get_members(room_id, not_membership=Membership.JOIN)
    assert [(e.state_key, e.content.membership) for e in members] == [
        (bob.client.mxid, Membership.LEAVE)
    ]
    await bob.client.forget_room(room_id)
    assert room_id not in await bob.client.get_joined_rooms()


async def test_bot_account_media_profile_directory(bots):
    alice, bob = bots
    client = alice.client

    await client.set_account_data("org.example.bot.settings", {"admins": [bob.client.mxid]})
    assert await client.get_account_data("org.example.bot.settings") == {
        "admins": [bob.client.mxid]
    }
    room_id = await client.create_room(name="Settings room")
    await client.set_account_data("org.example.bot.room", {"muted": True}, room_id=room_id)
    assert await client.get_account_data("org.example.bot.room", room_id=room_id) == {
        "muted": True
    }
    with pytest.raises(MNotFound):
        await client.get_account_data("org.example.absent")
    await client.set_room_tag(room_id, "m.favourite")
    assert "m.favourite" in (await client.get_room_tags(room_id)).tags

    filter_id = await client.create_filter(SYNC_FILTER)
    stored = await client.get_filter(filter_id)
    assert stored.room.timeline.limit == 50 and stored.room.include_leave is True
    assert stored.presence.not_types == [EventType.PRESENCE]

    await client.set_displayname("Alice Bot")
    await client.set_avatar_url("mxc://veche.test/avatar")
    assert await bob.client.get_displayname(client.mxid) == "Alice Bot"
    assert await bob.client.get_avatar_url(client.mxid) == "mxc://veche.test/avatar"
    profile = await bob.client.get_profile(client.mxid)
    assert profile.displayname == "Alice Bot" and profile.avatar_url == "mxc://veche.test/avatar"
    # The profile change reached the member event in rooms alice is in.
    member = await client.get_state_event(room_id, EventType.ROOM_MEMBER, client.mxid)
    assert member.displayname == "Alice Bot"

    payload = b"\x89PNG not really, just bytes " * 50
    mxc = await client.upload_media(payload, mime_type="application/octet-stream",
                                    filename="blob.bin")
    assert mxc.startswith("mxc://veche.test/")
    assert (await client.versions()).supports("v1.11")  # so download_media authenticates
    assert await bob.client.download_media(mxc) == payload
    config = await client.get_media_repo_config()
    assert config.upload_size and config.upload_size >= len(payload)

    public_id = await client.create_room(
        alias_localpart="lobby", preset=RoomCreatePreset.PUBLIC, name="Lobby",
        topic="Come in", visibility=RoomDirectoryVisibility.PUBLIC,
    )
    assert await client.get_room_directory_visibility(public_id) == RoomDirectoryVisibility.PUBLIC
    listing = await bob.client.get_room_directory(limit=10)
    lobby = next(room for room in listing.chunk if room.room_id == public_id)
    assert lobby.name == "Lobby" and lobby.topic == "Come in"
    assert lobby.canonical_alias == "#lobby:veche.test" and lobby.num_joined_members == 1
    assert lobby.world_readable is False and lobby.guest_can_join is False
    found = await bob.client.get_room_directory(search_query="lobby")
    assert [room.room_id for room in found.chunk] == [public_id]
    await client.set_room_directory_visibility(public_id, RoomDirectoryVisibility.PRIVATE)
    listing = await bob.client.get_room_directory()
    assert public_id not in [room.room_id for room in listing.chunk]

    joined = await bob.client.join_room("#lobby:veche.test")
    assert joined == public_id
    await client.remove_room_alias("lobby")
    with pytest.raises(MNotFound):
        await bob.client.resolve_room_alias("#lobby:veche.test")


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


async def test_bot_moderation_presence_push_to_device(bots):
    alice, bob = bots
    accept_invites(bob)
    bob.client.start(SYNC_FILTER)
    room_id = await alice.client.create_room(preset=RoomCreatePreset.PUBLIC, name="Mod room")
    await bob.client.join_room_by_id(room_id)

    await alice.client.kick_user(room_id, bob.client.mxid, reason="spam")
    member = await alice.client.get_state_event(room_id, EventType.ROOM_MEMBER, bob.client.mxid)
    assert member.membership == Membership.LEAVE and member.reason == "spam"
    kicked = await bob.wait_for("his kick in the leave section", lambda e: (
        in_room(room_id, EventType.ROOM_MEMBER)(e) and e.state_key == bob.client.mxid
        and e.content.membership == Membership.LEAVE and e.source & SyncStream.LEFT_ROOM
    ))
    assert kicked.sender == alice.client.mxid
    await alice.client.ban_user(room_id, bob.client.mxid, reason="more spam")
    with pytest.raises(MForbidden):
        await bob.client.join_room_by_id(room_id)
    await alice.client.unban_user(room_id, bob.client.mxid)
    await bob.client.join_room_by_id(room_id)
    assert bob.client.mxid in await alice.client.get_joined_members(room_id)

    knock_id = await alice.client.create_room(
        name="Knock room",
        initial_state=[{"type": "m.room.join_rules", "state_key": "",
                        "content": {"join_rule": "knock"}}],
    )
    assert await bob.client.knock_room(knock_id, reason="let me in") == knock_id
    member = await alice.client.get_state_event(knock_id, EventType.ROOM_MEMBER, bob.client.mxid)
    assert member.membership == Membership.KNOCK and member.reason == "let me in"
    await alice.client.invite_user(knock_id, bob.client.mxid)  # bob's handler accepts it
    await bob.wait_for("his join after the knock", lambda e: (
        in_room(knock_id, EventType.ROOM_MEMBER)(e) and e.state_key == bob.client.mxid
        and e.content.membership == Membership.JOIN
    ))

    await bob.client.set_presence(PresenceState.UNAVAILABLE, status="away")
    presence = await alice.client.get_presence(bob.client.mxid)
    assert presence.presence == PresenceState.UNAVAILABLE and presence.status_msg == "away"
    found = await alice.client.search_users("bob")
    assert bob.client.mxid in [user.user_id for user in found.results]

    scope, kind = PushRuleScope.GLOBAL, PushRuleKind.CONTENT
    await alice.client.set_push_rule(scope, kind, "beeps", [PushActionType.NOTIFY], pattern="beep")
    rule = await alice.client.get_push_rule(scope, kind, "beeps")
    assert rule.pattern == "beep" and rule.enabled and not rule.default
    assert rule.actions == [PushActionType.NOTIFY]
    await alice.client.remove_push_rule(scope, kind, "beeps")
    with pytest.raises(MNotFound):
        await alice.client.get_push_rule(scope, kind, "beeps")

    ping = EventType("org.example.ping", EventType.Class.TO_DEVICE)
    await alice.client.send_to_device(ping, {bob.client.mxid: {bob.client.device_id: {"n": 1}}})
    got = await bob.wait_for("alice's to-device ping", lambda e: e.type == ping)
    assert got.sender == alice.client.mxid and got.content["n"] == 1
    assert got.source & SyncStream.TO_DEVICE

    bob.client.stop()
    await bob.client.logout()
    assert bob.client.api.token == ""
    bob.client.api.token = "no longer valid"
    with pytest.raises(MUnknownToken):
        await bob.client.whoami()


async def test_bot_async_upload_and_thumbnail(bots):
    alice, bob = bots
    created = await alice.client.create_mxc()
    assert created.content_uri.startswith("mxc://veche.test/")
    image = png(1000, 600)
    # Before the upload the media is pending: a download that will not wait says so.
    with pytest.raises(aiohttp.ClientResponseError) as pending:
        await bob.client.download_media(created.content_uri, timeout_ms=0)
    assert pending.value.status == 504
    # mautrix's upload_media(mxc=...) expects a content_uri back from the PUT, but the
    # spec's (and Synapse's) answer is an empty object, so the bot uploads through
    # mautrix's raw request instead.
    server_name, media_id = alice.client.api.parse_mxc_uri(created.content_uri)
    answer = await alice.client.api.request(
        Method.PUT, MediaPath.v3.upload[server_name][media_id], content=image,
        headers={"Content-Type": "image/png"},
    )
    assert answer == {}
    assert await bob.client.download_media(created.content_uri, timeout_ms=1000) == image

    thumbnail = await bob.client.download_thumbnail(
        created.content_uri, width=64, height=64, resize_method="scale"
    )
    with Image.open(io.BytesIO(thumbnail)) as small:
        # Servers answer from the spec's pre-generated sizes: at least the box, never the
        # original 1000x600.
        assert 64 <= small.width < 1000 and 64 <= small.height < 600
        assert abs(small.width / small.height - 1000 / 600) < 0.05
    cropped = await bob.client.download_thumbnail(
        created.content_uri, width=32, height=32, resize_method="crop"
    )
    with Image.open(io.BytesIO(cropped)) as small:
        assert small.size == (32, 32)


async def test_bot_membership_through_state_and_logins(bots, base_url):
    """Bridges send member events themselves (per-room names for puppets) and log their bots
    in again on restart, reusing the device."""
    alice, bob = bots
    room_id = await alice.client.create_room(preset=RoomCreatePreset.PUBLIC, name="Puppets")

    # With extra content, mautrix joins and invites by PUT /state/m.room.member/{user}.
    await bob.client.join_room_by_id(room_id, extra_content={"displayname": "Bob (bridge)"})
    member = await alice.client.get_state_event(room_id, EventType.ROOM_MEMBER, bob.client.mxid)
    assert member.membership == Membership.JOIN and member.displayname == "Bob (bridge)"
    async with aiohttp.ClientSession() as session:
        await register(session, base_url, "carol")
        carol = await log_in(session, base_url, "@carol:veche.test")
        await alice.client.invite_user(
            room_id, carol.client.mxid, extra_content={"fi.example.puppet": True}
        )
        member = await alice.client.get_state_event(
            room_id, EventType.ROOM_MEMBER, carol.client.mxid
        )
        assert member.membership == Membership.INVITE and member["fi.example.puppet"] is True
        # server_name is how mautrix passes the servers to join through.
        assert await carol.client.join_room(room_id, servers=["veche.test"]) == room_id
        assert carol.client.mxid in await alice.client.get_joined_members(room_id)

        # A restarted bot logs in with its localpart and the device it had.
        again = Client(base_url=base_url, client_session=session)
        login = await again.login(
            identifier=MatrixUserIdentifier("carol"), password=PASSWORD,
            device_id=carol.client.device_id,
        )
        assert login.user_id == carol.client.mxid and login.device_id == carol.client.device_id
        assert (await again.whoami()).device_id == carol.client.device_id
        await again.logout_all()
        with pytest.raises(MUnknownToken):
            await carol.client.whoami()


async def test_bot_reads_history(bots):
    """What a bot does on start-up: one sync for its position, then history backwards from
    the timeline's prev_batch, context around an event, and media messages read back."""
    alice, bob = bots
    room_id = await alice.client.create_room(
        preset=RoomCreatePreset.PUBLIC, name="History", invitees=[bob.client.mxid]
    )
    await bob.client.join_room_by_id(room_id)
    sent = [await alice.client.send_text(room_id, f"m{i}") for i in range(12)]
    image_url = await alice.client.upload_media(png(40, 30), mime_type="image/png")
    image_id = await alice.client.send_image(
        room_id, image_url, info=ImageInfo(mimetype="image/png", width=40, height=30),
        file_name="red.png",
    )
    await alice.client.send_state_event(room_id, EventType.ROOM_TOPIC, {"topic": "later"})

    filter_id = await bob.client.create_filter(
        Filter(room=RoomFilter(timeline=RoomEventFilter(limit=3)))
    )
    first = await bob.client.sync(filter_id=filter_id, timeout=0)
    joined = first["rooms"]["join"][room_id]
    assert joined["timeline"]["limited"] is True
    assert [e["event_id"] for e in joined["timeline"]["events"]][:2] == [sent[-1], image_id]
    prev_batch = joined["timeline"]["prev_batch"]

    only_messages = RoomEventFilter(types=[EventType.ROOM_MESSAGE])
    page = await bob.client.get_messages(
        room_id, PaginationDirection.BACKWARD, from_token=prev_batch, limit=5,
        filter_json=only_messages,
    )
    assert [e.event_id for e in page.events] == list(reversed(sent[-6:-1]))
    assert all(e.type == EventType.ROOM_MESSAGE for e in page.events)
    older = await bob.client.get_messages(
        room_id, PaginationDirection.BACKWARD, from_token=page.end, limit=50,
        filter_json=only_messages,
    )
    assert [e.event_id for e in older.events] == list(reversed(sent[:-6]))
    forward = await bob.client.get_messages(
        room_id, PaginationDirection.FORWARD, from_token=page.end, limit=50,
        filter_json=only_messages,
    )
    assert [e.event_id for e in forward.events] == sent[-6:] + [image_id]

    context = await bob.client.get_event_context(room_id, sent[5], limit=4)
    assert context.event.event_id == sent[5]
    assert [e.event_id for e in context.events_before] == [sent[4], sent[3]]
    assert [e.event_id for e in context.events_after] == [sent[6], sent[7]]
    assert any(e.type == EventType.ROOM_MEMBER and e.state_key == bob.client.mxid
               for e in context.state)

    image = await bob.client.get_event(room_id, image_id)
    assert image.content.msgtype == MessageType.IMAGE and image.content.url == image_url
    assert image.content.info.width == 40 and image.content.info.mimetype == "image/png"
    assert await bob.client.download_media(image.content.url) == png(40, 30)


async def test_bot_pages_the_room_directory(bots):
    alice, bob = bots
    made = set()
    for name in ("Alpha", "Beta", "Gamma"):
        made.add(await alice.client.create_room(
            preset=RoomCreatePreset.PUBLIC, name=name, visibility=RoomDirectoryVisibility.PUBLIC
        ))
    # Without a search term mautrix sends GET /publicRooms with limit and since in a JSON
    # body, where the spec (and Synapse) take them from the query string only; the body is
    # ignored. Asking for include_all_networks makes it POST them, as the spec has it.
    first = await bob.client.get_room_directory(limit=2, include_all_networks=False)
    assert len(first.chunk) == 2 and first.next_batch
    assert first.total_room_count_estimate == 3
    second = await bob.client.get_room_directory(
        limit=2, since=first.next_batch, include_all_networks=False
    )
    assert len(second.chunk) == 1 and second.prev_batch
    assert {room.room_id for room in first.chunk + second.chunk} == made


class Signer:
    """An ed25519 key that signs objects the way the spec's signing JSON section has it,
    with canonicaljson and PyNaCl (not Veche's own code)."""

    def __init__(self, name: str | None = None) -> None:
        self.key = nacl.signing.SigningKey.generate()
        self.public = unpaddedbase64.encode_base64(bytes(self.key.verify_key))
        self.key_id = f"ed25519:{name or self.public}"

    def sign(self, obj: dict, user_id: str) -> dict:
        unsigned_part = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
        signature = self.key.sign(canonicaljson.encode_canonical_json(unsigned_part)).signature
        obj.setdefault("signatures", {}).setdefault(user_id, {})[self.key_id] = (
            unpaddedbase64.encode_base64(signature)
        )
        return obj


def random_curve_key() -> str:
    return unpaddedbase64.encode_base64(nacl.utils.random(32))


async def test_bot_key_exchange_and_cross_signing(bots):
    """The key API calls mautrix's crypto layer makes, with keys made and signed here: the
    server must hand back what was uploaded, verbatim, in the shapes mautrix parses."""
    alice, bob = bots
    room_id = await alice.client.create_room(name="Keys", invitees=[bob.client.mxid])
    await bob.client.join_room_by_id(room_id)
    alice.client.add_event_handler(InternalEventType.DEVICE_OTK_COUNT, alice.record)
    bob.client.add_event_handler(InternalEventType.DEVICE_LISTS, bob.record)
    alice.client.start(SYNC_FILTER)
    bob.client.start(SYNC_FILTER)
    await alice.wait_for("a first sync", lambda e: isinstance(e, DeviceOTKCount))

    user, device = alice.client.mxid, alice.client.device_id
    device_key = Signer(device)
    device_keys = device_key.sign({
        "user_id": user, "device_id": device,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device}": random_curve_key(), device_key.key_id: device_key.public},
    }, user)
    one_time = {
        f"signed_curve25519:AAAA{i}": device_key.sign({"key": random_curve_key()}, user)
        for i in range(3)
    }
    uploaded = await alice.client.upload_keys(one_time_keys=one_time, device_keys=device_keys)
    assert uploaded == {EncryptionKeyAlgorithm.SIGNED_CURVE25519: 3}
    await bob.wait_for("alice's new device keys", lambda e: (
        isinstance(e, DeviceLists) and user in e.changed
    ))

    queried = await bob.client.query_keys([user])
    assert queried.failures == {}
    keys = queried.device_keys[user][device]
    assert keys.ed25519 == device_key.public and keys.curve25519 == device_keys["keys"][
        f"curve25519:{device}"]
    # mautrix parses key IDs into KeyID objects; str() gives back the wire form.
    assert {str(k): v for k, v in keys.signatures[user].items()} == device_keys["signatures"][user]
    assert keys.unsigned.device_display_name == "mautrix bot"

    claimed = await bob.client.claim_keys(
        {user: {device: EncryptionKeyAlgorithm.SIGNED_CURVE25519}}
    )
    assert claimed.failures == {}
    [(key_id, key)] = claimed.one_time_keys[user][device].items()
    assert one_time[str(key_id)] == key
    # A claim does not itself wake the owner's sync (nor does it on Synapse); the count
    # rides on the next response, here the one bringing bob's message.
    poke = await bob.client.send_text(room_id, "sent you an olm message")
    await alice.wait_for("bob's message", lambda e: getattr(e, "event_id", None) == poke)
    counts = [e for e in alice.events if isinstance(e, DeviceOTKCount)]
    assert counts[-1].signed_curve25519 == 2

    master, self_signing, user_signing = Signer(), Signer(), Signer()
    cross = {
        CrossSigningUsage.MASTER: CrossSigningKeys(
            user_id=user, usage=[CrossSigningUsage.MASTER],
            keys={master.key_id: master.public}),
        CrossSigningUsage.SELF: CrossSigningKeys.deserialize(master.sign({
            "user_id": user, "usage": ["self_signing"],
            "keys": {self_signing.key_id: self_signing.public}}, user)),
        CrossSigningUsage.USER: CrossSigningKeys.deserialize(master.sign({
            "user_id": user, "usage": ["user_signing"],
            "keys": {user_signing.key_id: user_signing.public}}, user)),
    }
    password_auth = {
        "type": "m.login.password", "password": PASSWORD,
        "identifier": {"type": "m.id.user", "user": user},
    }
    await alice.client.upload_cross_signing_keys(cross, auth=password_auth)
    signed_device = DeviceKeys.deserialize(self_signing.sign(
        {k: v for k, v in device_keys.items() if k != "signatures"}, user
    ))
    await alice.client.upload_one_signature(user, device, signed_device)

    queried = await bob.client.query_keys({user: [device]})
    assert queried.master_keys[user].first_ed25519_key == master.public
    assert queried.self_signing_keys[user].first_ed25519_key == self_signing.public
    assert user not in queried.user_signing_keys  # only for its owner
    signatures = queried.device_keys[user][device].signatures[user]
    assert {str(key_id) for key_id in signatures} == {device_key.key_id, self_signing.key_id}
    own = await alice.client.query_keys([user])
    assert own.user_signing_keys[user].first_ed25519_key == user_signing.public
    alice.client.stop()
    bob.client.stop()


async def test_bot_direct_chat(bots):
    """How a bridge opens a DM portal: a trusted private chat with is_direct, the invitee
    made a creator (room version 12) and the room recorded in m.direct."""
    alice, bob = bots
    accept_invites(bob)
    bob.client.start(SYNC_FILTER)
    room_id = await alice.client.create_room(
        preset=RoomCreatePreset.TRUSTED_PRIVATE, is_direct=True, invitees=[bob.client.mxid]
    )
    invite = await bob.wait_for("the DM invite", lambda e: (
        in_room(room_id, EventType.ROOM_MEMBER)(e) and e.source & SyncStream.INVITED_ROOM
    ))
    assert invite.content.is_direct is True
    await bob.wait_for("his join", lambda e: (
        in_room(room_id, EventType.ROOM_MEMBER)(e) and e.state_key == bob.client.mxid
        and e.content.membership == Membership.JOIN
    ))
    await alice.client.set_account_data(EventType.DIRECT, {bob.client.mxid: [room_id]})
    assert await alice.client.get_account_data(EventType.DIRECT) == {bob.client.mxid: [room_id]}

    state = await bob.client.get_state(room_id)
    create = next(e for e in state if e.type == EventType.ROOM_CREATE)
    assert create.content.additional_creators == [bob.client.mxid]
    levels = await bob.client.get_state_event(room_id, EventType.ROOM_POWER_LEVELS)
    assert levels.get_user_level(bob.client.mxid, create) == levels.get_user_level(
        alice.client.mxid, create
    )
    assert await bob.client.state_store.has_power_level(
        room_id, bob.client.mxid, EventType.ROOM_POWER_LEVELS
    )
    bob.client.stop()


async def test_bot_resumes_from_its_stored_sync_token(bots, base_url):
    """A restarted bot picks its loop up from the next_batch its sync store kept, and gets
    what happened while it was down: messages, an invite, a to-device message."""
    alice, bob = bots
    room_id = await alice.client.create_room(
        preset=RoomCreatePreset.PUBLIC, name="Resume", invitees=[bob.client.mxid]
    )
    await bob.client.join_room_by_id(room_id)
    bob.client.start(SYNC_FILTER)
    ready = await alice.client.send_text(room_id, "before the restart")
    await bob.wait_for("the last message before stopping",
                       lambda e: getattr(e, "event_id", None) == ready)
    bob.client.stop()
    stored = await bob.client.sync_store.get_next_batch()
    assert stored

    missed = [await alice.client.send_notice(room_id, f"while down {i}") for i in range(3)]
    other_room = await alice.client.create_room(name="New", invitees=[bob.client.mxid])
    ping = EventType("org.example.ping", EventType.Class.TO_DEVICE)
    await alice.client.send_to_device(ping, {bob.client.mxid: {bob.client.device_id: {"n": 2}}})

    async with aiohttp.ClientSession() as session:
        restarted = Bot(Client(
            mxid=bob.client.mxid, device_id=bob.client.device_id, base_url=base_url,
            token=bob.client.api.token, client_session=session,
            state_store=MemoryStateStore(), sync_store=MemorySyncStore(stored),
        ))
        restarted.client.add_event_handler(EventType.ALL, restarted.record)
        restarted.client.start(SYNC_FILTER)
        try:
            for event_id in missed:
                await restarted.wait_for("a missed notice",
                                         lambda e, i=event_id: getattr(e, "event_id", None) == i)
            await restarted.wait_for("the invite sent meanwhile", lambda e: (
                in_room(other_room, EventType.ROOM_MEMBER)(e)
                and e.source & SyncStream.INVITED_ROOM
            ))
            await restarted.wait_for("the to-device ping", lambda e: e.type == ping)
            seen = [getattr(e, "event_id", None) for e in restarted.events]
            assert ready not in seen  # nothing from before the stored token comes again
        finally:
            restarted.client.stop()
