"""Build `Event` objects for tests, in the PDU shape of any room version.

Usage::

    f = EventFactory("10")                     # or a RoomVersion; default room version 12
    create = f.create("@alice:example.org")    # m.room.create; in v12 this fixes f.room_id
    join = f.member("@alice:example.org", "join", auth_events=[create], prev_events=[create])
    pl = f.state("m.room.power_levels", "@alice:example.org", "",
                 {"users": {"@alice:example.org": 100}}, auth_events=[create, join])
    msg = f.event("m.room.message", "@alice:example.org", {"body": "hi"},
                  auth_events=[create, join, pl])

What the factory fills in:

- `room_id`: `!room:example.org` by default. In v12 the room ID is derived from the create
  event's ID, so build the create event with `create()` first; it sets `room_id`. The v12
  create event itself has no `room_id`.
- `prev_events` / `auth_events`: given as `Event`s, written as `[id, {"sha256": …}]` pairs for
  v1/v2 and as plain ID lists otherwise. In v12 the create event is dropped from
  `auth_events` (the spec forbids listing it there); pass `raw_auth_event_ids=` to write
  an exact list instead (e.g. to test that rejection).
- `depth`: one more than the deepest prev event (1 with no prev events), unless given.
- `origin_server_ts`: a per-factory clock that advances by 1000 ms per event, unless given.
- `hashes.sha256`: the real content hash of the PDU (without `signatures`/`unsigned`);
  `signatures` is empty — these events are unsigned unless `extra` supplies signatures.
- `event_id`: synthetic and deterministic: `$<hash>:<sender's server>` for v1/v2, and
  `$<hash>` (standard or URL-safe unpadded base64, as the version's format has it) for v3+.
  The hash covers the whole PDU, so equal PDUs get equal IDs. Pass `event_id=` to choose one.

`state_map(*events)` keys state events by (type, state_key), for auth and state-res inputs.

`extra=` merges arbitrary top-level PDU keys last (overriding anything filled in), so tests
can build malformed events.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from veche.protocol.events import Event, StateKey
from veche.protocol.room_versions import EventFormat, RoomVersion, get_room_version

DEFAULT_ROOM_ID = "!room:example.org"
BASE_TS = 1_700_000_000_000


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(data: bytes, urlsafe: bool) -> str:
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.decode().rstrip("=")


def server_of(user_id: str) -> str:
    """The server name part of a user ID (everything after the first colon)."""
    return user_id.split(":", 1)[1]


class EventFactory:
    """Makes events of one room; keeps the room ID and a monotonically advancing clock."""

    def __init__(self, room_version: RoomVersion | str = "12", room_id: str | None = None) -> None:
        self.room_version = (
            get_room_version(room_version) if isinstance(room_version, str) else room_version
        )
        self.room_id = room_id or DEFAULT_ROOM_ID
        self._ts = BASE_TS

    def event(
        self,
        event_type: str,
        sender: str,
        content: Mapping[str, Any] | None = None,
        *,
        state_key: str | None = None,
        auth_events: Iterable[Event] = (),
        prev_events: Iterable[Event] = (),
        depth: int | None = None,
        origin_server_ts: int | None = None,
        redacts: str | None = None,
        event_id: str | None = None,
        raw_auth_event_ids: Iterable[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Event:
        """Any event; state events are the ones given a `state_key` (use "" for none)."""
        rv = self.room_version
        prev = list(prev_events)
        auth = list(auth_events)
        if rv.room_id_from_create_event:
            auth = [e for e in auth if e.type != "m.room.create" or e.state_key != ""]
        if origin_server_ts is None:
            self._ts += 1000
            origin_server_ts = self._ts
        pdu: dict[str, Any] = {
            "type": event_type,
            "sender": sender,
            "content": dict(content or {}),
            "room_id": self.room_id,
            "depth": depth if depth is not None else max((e.depth for e in prev), default=0) + 1,
            "origin_server_ts": origin_server_ts,
            "prev_events": self._refs(prev),
            "auth_events": (
                list(raw_auth_event_ids) if raw_auth_event_ids is not None else self._refs(auth)
            ),
        }
        if state_key is not None:
            pdu["state_key"] = state_key
        if rv.room_id_from_create_event and event_type == "m.room.create" and state_key == "":
            del pdu["room_id"]
        if redacts is not None:
            if rv.redacts_in_content:
                pdu["content"]["redacts"] = redacts
            else:
                pdu["redacts"] = redacts
        if extra:
            pdu.update(extra)
        if "hashes" not in pdu:
            hashed = {k: v for k, v in pdu.items() if k not in ("signatures", "unsigned")}
            pdu["hashes"] = {"sha256": _b64(hashlib.sha256(_canonical(hashed)).digest(), False)}
        pdu.setdefault("signatures", {})
        return Event(pdu, rv, event_id or self._synthetic_id(pdu))

    def state(
        self,
        event_type: str,
        sender: str,
        state_key: str,
        content: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Event:
        """A state event (same keyword arguments as `event`)."""
        return self.event(event_type, sender, content, state_key=state_key, **kwargs)

    def create(
        self,
        sender: str,
        content: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Event:
        """The m.room.create event, with `creator` filled in for versions before 11.

        In v12 this drops `room_id` from the PDU and points the factory at the derived
        room ID, so build it before any other event of the room.
        """
        body = dict(content or {})
        if not self.room_version.implicit_room_creator:
            body.setdefault("creator", sender)
        body.setdefault("room_version", self.room_version.identifier)
        event = self.event("m.room.create", sender, body, state_key="", **kwargs)
        if self.room_version.room_id_from_create_event:
            self.room_id = event.room_id
        return event

    def member(
        self,
        target: str,
        membership: str,
        sender: str | None = None,
        content: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Event:
        """An m.room.member event for `target`, sent by `sender` (default: the target)."""
        body = {"membership": membership, **(content or {})}
        return self.event("m.room.member", sender or target, body, state_key=target, **kwargs)

    def _refs(self, events: list[Event]) -> list[Any]:
        if self.room_version.event_format is EventFormat.V1:
            return [[e.event_id, {"sha256": e.pdu.get("hashes", {}).get("sha256", "")}] for e in events]
        return [e.event_id for e in events]

    def _synthetic_id(self, pdu: Mapping[str, Any]) -> str:
        digest = hashlib.sha256(_canonical(pdu)).digest()
        fmt = self.room_version.event_format
        if fmt is EventFormat.V1:
            return f"${_b64(digest[:12], True)}:{server_of(pdu['sender'])}"
        return "$" + _b64(digest, fmt is EventFormat.V4)


def state_map(*events: Event) -> dict[StateKey, Event]:
    """Key state events by (type, state_key); later events replace earlier ones."""
    return {e.state_tuple: e for e in events}
