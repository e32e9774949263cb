"""Events related to others through `m.relates_to` (filled by `ContentIndex`): children of
an event for aggregations and /relations, and a room's threads for /threads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from veche.storage.content_index import ContentIndex
from veche.storage.database import Database
from veche.storage.events import TopologicalToken
from veche.storage.rooms import RoomStore

# Children more than this many relations away are not followed by `recurse`.
MAX_RECURSION_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Relation:
    event_id: str
    parent_id: str
    rel_type: str
    sender: str
    depth: int
    stream_ordering: int


@dataclass(frozen=True, slots=True)
class RelationPage:
    event_ids: list[str]  # in the direction of pagination
    next_token: TopologicalToken | None


@dataclass(frozen=True, slots=True)
class ThreadPage:
    root_ids: list[str]  # most recently active first
    next_token: int | None  # the stream position to continue below


class RelationStore:
    def __init__(self, db: Database, rooms: RoomStore, index: ContentIndex) -> None:
        self._db = db
        self._rooms = rooms
        self._index = index

    async def children(self, parent_ids: Iterable[str], rel_types: Iterable[str]) -> list[Relation]:
        """The timeline events relating to any of `parent_ids` with one of `rel_types`."""
        parents = list(set(parent_ids))
        if not parents:
            return []
        await self._index.catch_up()
        rows = await self._db.fetchall(
            "SELECT i.event_id, r.parent_id, r.rel_type, u.user_id, e.depth, e.stream_ordering"
            " FROM event_relations r JOIN events e ON e.event_nid = r.event_nid"
            " JOIN event_ids i ON i.event_nid = r.event_nid JOIN user_ids u ON u.user_nid = e.sender_nid"
            " WHERE r.parent_id = ANY(?) AND r.rel_type = ANY(?)"
            " ORDER BY e.depth, e.stream_ordering",
            parents,
            list(rel_types),
        )
        return [Relation(*row) for row in rows]

    async def paginate(
        self,
        room_id: str,
        parent_id: str,
        *,
        rel_type: str | None,
        event_type: str | None,
        from_token: TopologicalToken | None,
        to_token: TopologicalToken | None,
        direction: Literal["b", "f"],
        limit: int,
        recurse: bool,
    ) -> RelationPage:
        """Children of `parent_id` in topological order (newest first for "b")."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None or limit <= 0:
            return RelationPage([], None)
        await self._index.catch_up()
        levels = MAX_RECURSION_DEPTH if recurse else 1
        sql = (
            "WITH RECURSIVE related (event_nid, level) AS ("
            " SELECT event_nid, 1 FROM event_relations WHERE parent_id = ? AND room_nid = ?"
            " UNION"
            " SELECT r.event_nid, related.level + 1 FROM related"
            " JOIN event_ids p ON p.event_nid = related.event_nid"
            " JOIN event_relations r ON r.parent_id = p.event_id AND r.room_nid = ?"
            " WHERE related.level < ?"
            ") SELECT DISTINCT i.event_id, e.depth, e.stream_ordering FROM related"
            " JOIN events e ON e.event_nid = related.event_nid"
            " JOIN event_relations r ON r.event_nid = related.event_nid"
            " JOIN event_ids i ON i.event_nid = related.event_nid"
            " WHERE e.stream_ordering IS NOT NULL AND NOT e.soft_failed AND e.rejected_reason IS NULL"
        )
        args: list[object] = [parent_id, room_nid, room_nid, levels]
        if rel_type is not None:
            sql += " AND r.rel_type = ?"
            args.append(rel_type)
        if event_type is not None:
            sql += " AND e.event_type = ?"
            args.append(event_type)
        if direction == "b":
            bound, stop, order = "<=", ">", "DESC"
        else:
            bound, stop, order = ">", "<=", "ASC"
        if from_token is not None:
            sql += f" AND (e.depth, e.stream_ordering) {bound} (?, ?)"
            args += [from_token.depth, from_token.stream]
        if to_token is not None:
            sql += f" AND (e.depth, e.stream_ordering) {stop} (?, ?)"
            args += [to_token.depth, to_token.stream]
        sql += f" ORDER BY e.depth {order}, e.stream_ordering {order} LIMIT ?"
        rows = await self._db.fetchall(sql, *args, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        if not more or not rows:
            return RelationPage([row[0] for row in rows], None)
        _, depth, stream = rows[-1]
        token = TopologicalToken.before(depth, stream) if direction == "b" else TopologicalToken(depth, stream)
        return RelationPage([row[0] for row in rows], token)

    async def threads(
        self, room_id: str, *, participant: str | None, before_stream: int | None, limit: int
    ) -> ThreadPage:
        """Thread roots of the room by latest reply, newest first; with `participant`, only
        threads that user started or replied to."""
        room_nid = await self._rooms.get_room_nid(room_id)
        if room_nid is None or limit <= 0:
            return ThreadPage([], None)
        await self._index.catch_up()
        sql = (
            "SELECT r.parent_id, MAX(e.stream_ordering) AS latest FROM event_relations r"
            " JOIN events e ON e.event_nid = r.event_nid"
            " JOIN event_ids ri ON ri.event_id = r.parent_id JOIN events root ON root.event_nid = ri.event_nid"
            " WHERE r.room_nid = ? AND r.rel_type = 'm.thread' AND root.room_nid = ?"
            " AND e.stream_ordering IS NOT NULL AND NOT e.soft_failed AND e.rejected_reason IS NULL"
        )
        args: list[object] = [room_nid, room_nid]
        if participant is not None:
            sql += (
                " AND (root.sender_nid = (SELECT user_nid FROM user_ids WHERE user_id = ?)"
                " OR r.parent_id IN ("
                "  SELECT r2.parent_id FROM event_relations r2 JOIN events e2 ON e2.event_nid = r2.event_nid"
                "  JOIN user_ids u2 ON u2.user_nid = e2.sender_nid"
                "  WHERE r2.room_nid = ? AND r2.rel_type = 'm.thread' AND u2.user_id = ?))"
            )
            args += [participant, room_nid, participant]
        sql += " GROUP BY r.parent_id"
        if before_stream is not None:
            sql += " HAVING MAX(e.stream_ordering) < ?"
            args.append(before_stream)
        sql += " ORDER BY latest DESC LIMIT ?"
        rows = await self._db.fetchall(sql, *args, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return ThreadPage([row[0] for row in rows], rows[-1][1] if more and rows else None)
