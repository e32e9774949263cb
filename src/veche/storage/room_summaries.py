"""Batched reads /sync needs across many rooms at once: member summaries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from veche.storage.database import Database


@dataclass(frozen=True, slots=True)
class MemberSummary:
    joined_count: int
    invited_count: int
    # (user ID, membership) in stream order: the candidates for m.heroes.
    members_in_order: tuple[tuple[str, str], ...]


class RoomSummaryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def member_summaries(self, room_ids: Iterable[str], hero_candidates: int = 6) -> dict[str, MemberSummary]:
        """Joined/invited counts and the first members by stream order, for each room."""
        rows = await self._db.fetchall(
            "SELECT r.room_id, m.membership, COUNT(*) FROM room_memberships m"
            " JOIN rooms r ON r.room_nid = m.room_nid"
            " WHERE r.room_id = ANY(?) AND m.membership IN ('join', 'invite')"
            " GROUP BY r.room_id, m.membership",
            list(room_ids),
        )
        counts: dict[str, dict[str, int]] = {}
        for room_id, membership, count in rows:
            counts.setdefault(room_id, {})[membership] = count
        ranked = await self._db.fetchall(
            "SELECT room_id, user_id, membership FROM ("
            " SELECT r.room_id, u.user_id, m.membership,"
            "  ROW_NUMBER() OVER (PARTITION BY m.room_nid ORDER BY"
            "   CASE WHEN m.membership IN ('join', 'invite') THEN 0 ELSE 1 END, m.stream_ordering) AS rank"
            " FROM room_memberships m JOIN rooms r ON r.room_nid = m.room_nid"
            " JOIN user_ids u ON u.user_nid = m.user_nid WHERE r.room_id = ANY(?)"
            ") ranked WHERE rank <= ? ORDER BY room_id, rank",
            list(room_ids),
            hero_candidates,
        )
        members: dict[str, list[tuple[str, str]]] = {}
        for room_id, user_id, membership in ranked:
            members.setdefault(room_id, []).append((user_id, membership))
        return {
            room_id: MemberSummary(
                counts.get(room_id, {}).get("join", 0),
                counts.get(room_id, {}).get("invite", 0),
                tuple(members.get(room_id, ())),
            )
            for room_id in set(counts) | set(members)
        }
