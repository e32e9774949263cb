"""Rooms (interned, with their version) and the current membership table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from veche.protocol.room_versions import RoomVersion, get_room_version
from veche.storage.cache import LruCache
from veche.storage.change_cache import StreamChangeCache
from veche.storage.database import Database, Transaction
from veche.storage.interning import AfterCommit, StringInterner

# Above every stream position: a change cache starting here vouches for nothing.
_UNTRACKED = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Membership:
    room_id: str
    membership: str
    event_id: str
    stream_ordering: int


# Rooms whose joined members stay cached.
JOINED_CACHE_ROOMS = 1_000


class RoomStore:
    def __init__(
        self,
        db: Database,
        users: StringInterner,
        *,
        membership_cache_size: int = 5_000,
        member_changes_from: int | None = None,
    ) -> None:
        self._db = db
        self._users = users
        # A room's nid and version never change once known.
        self._nids: dict[str, int] = {}
        self._ids: dict[int, str] = {}
        self._versions: dict[int, RoomVersion] = {}
        # user ID → every current membership of the user, kept until a membership of the
        # user changes (`memberships_changed`, run after each commit that changes any).
        # A counter of changes stops a read that raced a change from caching what it read.
        self._memberships: LruCache[str, tuple[Membership, ...]] = LruCache(membership_cache_size)
        self._membership_changes = 0
        # room ID → the newest events-stream position at which a membership of the room
        # changed, for changes after `member_changes_from` (without it, none is vouched for).
        self._room_member_changes: StreamChangeCache[str] = StreamChangeCache(
            _UNTRACKED if member_changes_from is None else member_changes_from
        )
        # room ID → its joined members (every local event asks whom to send it to), kept
        # the same way with a count of changes per room.
        self._joined: LruCache[str, tuple[str, ...]] = LruCache(JOINED_CACHE_ROOMS)
        self._joined_changes: dict[str, int] = {}

    def _remember(self, room_id: str, room_nid: int, version: str | None) -> None:
        self._nids[room_id] = room_nid
        self._ids[room_nid] = room_id
        if version is not None:
            self._versions[room_nid] = get_room_version(version)

    async def intern_room(
        self, txn: Transaction, room_id: str, room_version: str | None, after: AfterCommit
    ) -> int:
        """The room's nid, creating it (or filling in its version) inside `txn`."""
        room_nid = self._nids.get(room_id)
        if room_nid is not None and (room_version is None or room_nid in self._versions):
            return room_nid
        row = await txn.fetchone(
            "INSERT INTO rooms (room_id, room_version) VALUES (?, ?)"
            " ON CONFLICT (room_id) DO UPDATE"
            " SET room_version = COALESCE(rooms.room_version, excluded.room_version)"
            " RETURNING room_nid, room_version",
            room_id,
            room_version,
        )
        assert row is not None
        after.add(lambda: self._remember(room_id, row[0], row[1]))
        return row[0]

    async def get_room_nid(self, room_id: str, reader: Database | Transaction | None = None) -> int | None:
        room_nid = self._nids.get(room_id)
        if room_nid is None:
            row = await (reader or self._db).fetchone(
                "SELECT room_nid, room_version FROM rooms WHERE room_id = ?", room_id
            )
            if row is None:
                return None
            room_nid = row[0]
            if reader is None or isinstance(reader, Database):
                self._remember(room_id, row[0], row[1])
        return room_nid

    async def get_room_nids(self, room_ids: Iterable[str]) -> dict[str, int]:
        """Nids of the known rooms among `room_ids`."""
        wanted = set(room_ids)
        await self._load("room_id", [r for r in wanted if r not in self._nids])
        return {r: self._nids[r] for r in wanted if r in self._nids}

    async def get_room_ids(self, room_nids: Iterable[int]) -> dict[int, str]:
        wanted = set(room_nids)
        await self._load("room_nid", [n for n in wanted if n not in self._ids])
        return {n: self._ids[n] for n in wanted if n in self._ids}

    async def get_room_version(self, room_id: str) -> RoomVersion | None:
        """The room's version, or None when the room or its version is unknown."""
        room_nid = await self.get_room_nid(room_id)
        if room_nid is None:
            return None
        return (await self.get_versions([room_nid])).get(room_nid)

    async def get_versions(self, room_nids: Iterable[int]) -> dict[int, RoomVersion]:
        wanted = set(room_nids)
        await self._load("room_nid", [n for n in wanted if n not in self._versions])
        return {n: self._versions[n] for n in wanted if n in self._versions}

    async def _load(self, column: str, keys: list[str] | list[int]) -> None:
        """Read and remember the rooms whose `column` (room_id or room_nid) is among `keys`."""
        if not keys:
            return
        rows = await self._db.fetchall(
            f"SELECT room_nid, room_id, room_version FROM rooms WHERE {column} = ANY(?)", keys
        )
        for nid, room_id, version in rows:
            self._remember(room_id, nid, version)

    def memberships_changed(self, room_id: str, user_ids: Iterable[str], stream_ordering: int) -> None:
        """Forget the cached memberships of users whose membership of `room_id` changed at
        `stream_ordering` (called after the commit that changed them)."""
        self._membership_changes += 1
        self._room_member_changes.record(room_id, stream_ordering)
        self._joined_changes[room_id] = self._joined_changes.get(room_id, 0) + 1
        self._joined.pop(room_id)
        for user_id in user_ids:
            self._memberships.pop(user_id)

    def rooms_with_member_changes(self, room_ids: Iterable[str], since: int) -> list[str]:
        """The rooms of `room_ids` whose memberships may have changed after events-stream
        position `since` (a sync with none of them skips reading membership changes)."""
        return self._room_member_changes.changed_among(room_ids, since)

    async def get_memberships_for_user(
        self, user_id: str, memberships: Iterable[str] | None = None
    ) -> list[Membership]:
        """The user's current membership of every room (optionally only some kinds)."""
        every = self._memberships.get(user_id)
        if every is None:
            every = await self._load_memberships(user_id)
        if memberships is None:
            return list(every)
        kinds = set(memberships)
        return [m for m in every if m.membership in kinds]

    async def _load_memberships(self, user_id: str) -> tuple[Membership, ...]:
        changes = self._membership_changes
        user_nid = (await self._users.lookup(self._db, [user_id])).get(user_id)
        if user_nid is None:
            return ()
        rows = await self._db.fetchall(
            "SELECT r.room_id, m.membership, e.event_id, m.stream_ordering"
            " FROM room_memberships m"
            " JOIN rooms r ON r.room_nid = m.room_nid"
            " JOIN event_ids e ON e.event_nid = m.event_nid"
            " WHERE m.user_nid = ?",
            user_nid,
        )
        loaded = tuple(Membership(*row) for row in rows)
        if self._membership_changes == changes:
            self._memberships.set(user_id, loaded)
        return loaded

    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]:
        return [m.room_id for m in await self.get_memberships_for_user(user_id, [membership])]

    async def get_members(self, room_id: str, memberships: Iterable[str] | None = None) -> dict[str, str]:
        """user ID → membership for the room's current members (optionally only some kinds)."""
        room_nid = await self.get_room_nid(room_id)
        if room_nid is None:
            return {}
        sql = (
            "SELECT u.user_id, m.membership FROM room_memberships m"
            " JOIN user_ids u ON u.user_nid = m.user_nid WHERE m.room_nid = ?"
        )
        if memberships is None:
            rows = await self._db.fetchall(sql, room_nid)
        else:
            rows = await self._db.fetchall(sql + " AND m.membership = ANY(?)", room_nid, list(memberships))
        return dict(rows)

    async def get_joined_members(self, room_id: str) -> list[str]:
        cached = self._joined.get(room_id)
        if cached is not None:
            return list(cached)
        changes = self._joined_changes.get(room_id, 0)
        joined = tuple(await self.get_members(room_id, ["join"]))
        if self._joined_changes.get(room_id, 0) == changes:
            self._joined.set(room_id, joined)
        return list(joined)

    async def get_many_joined_members(self, room_ids: Iterable[str]) -> dict[str, list[str]]:
        """`get_joined_members` for many rooms, the uncached ones read in one query."""
        cached, missing = self._joined.get_many(set(room_ids))
        found = {room_id: list(joined) for room_id, joined in cached.items()}
        if not missing:
            return found
        changes = {room_id: self._joined_changes.get(room_id, 0) for room_id in missing}
        rows = await self._db.fetchall(
            "SELECT r.room_id, u.user_id FROM room_memberships m"
            " JOIN rooms r ON r.room_nid = m.room_nid JOIN user_ids u ON u.user_nid = m.user_nid"
            " WHERE r.room_id = ANY(?) AND m.membership = 'join'",
            missing,
        )
        loaded: dict[str, list[str]] = {room_id: [] for room_id in missing}
        for room_id, user_id in rows:
            loaded[room_id].append(user_id)
        for room_id, joined in loaded.items():
            if self._joined_changes.get(room_id, 0) == changes[room_id]:
                self._joined.set(room_id, tuple(joined))
            found[room_id] = joined
        return found
