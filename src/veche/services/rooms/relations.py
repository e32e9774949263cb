"""Browsing relations and threads (spec: relations.yaml, threads_list.yaml,
modules/threading.md "Querying threads in a room")."""

from __future__ import annotations

from typing import Any, Literal

from veche.errors import MatrixError
from veche.services.rooms.reading import RoomReader
from veche.services.rooms.serving import EventSerializer
from veche.storage.accounts import TokenInfo
from veche.storage.events import EventStore
from veche.storage.relations import MAX_RECURSION_DEPTH, RelationStore


class RelationsReader:
    def __init__(
        self, *, events: EventStore, relations: RelationStore, reader: RoomReader, serializer: EventSerializer
    ) -> None:
        self._events = events
        self._relations = relations
        self._reader = reader
        self._serializer = serializer

    async def relations(
        self,
        requester: TokenInfo,
        room_id: str,
        event_id: str,
        *,
        rel_type: str | None,
        event_type: str | None,
        from_token: str | None,
        to_token: str | None,
        direction: Literal["b", "f"],
        limit: int,
        recurse: bool | None,
        now_ms: int,
    ) -> dict[str, Any]:
        """Children of a visible event, newest first for "b"; `recurse` None means not asked."""
        await self._reader.access(requester.user_id, room_id)
        await self._reader.visible_event(requester.user_id, room_id, event_id)
        start = await self._reader.parse_token(room_id, from_token) if from_token is not None else None
        end = await self._reader.parse_token(room_id, to_token) if to_token is not None else None
        page = await self._relations.paginate(
            room_id,
            event_id,
            rel_type=rel_type,
            event_type=event_type,
            from_token=start,
            to_token=end,
            direction=direction,
            limit=limit,
            recurse=bool(recurse),
        )
        children = await self._reader.keep(requester.user_id, await self._events.get_events_in_order(page.event_ids))
        # A redacted child has lost its m.relates_to: it relates to nothing any more.
        broken = await self._serializer.applied_redactions(children)
        children = [c for c in children if c.event_id not in broken]
        response: dict[str, Any] = {
            "chunk": await self._serializer.serialize(children, requester=requester, now_ms=now_ms)
        }
        if page.next_token is not None:
            response["next_batch"] = page.next_token.serialize()
        if from_token is not None:
            response["prev_batch"] = from_token
        if recurse is not None:
            response["recursion_depth"] = MAX_RECURSION_DEPTH if recurse else 1
        return response

    async def threads(
        self,
        requester: TokenInfo,
        room_id: str,
        *,
        include: Literal["all", "participated"],
        from_token: str | None,
        limit: int,
        now_ms: int,
    ) -> dict[str, Any]:
        """Thread roots by latest activity, each with its `m.thread` aggregation."""
        await self._reader.access(requester.user_id, room_id)
        before = None
        if from_token is not None:
            # isdigit() alone passes "²", which int() refuses; SQL binds 64 bits at most.
            if not (from_token.isascii() and from_token.isdigit()) or int(from_token) >= 2**63:
                raise MatrixError(400, "M_INVALID_PARAM", f"Invalid pagination token {from_token!r}")
            before = int(from_token)
        page = await self._relations.threads(
            room_id,
            participant=requester.user_id if include == "participated" else None,
            before_stream=before,
            limit=limit,
        )
        roots = await self._reader.keep(requester.user_id, await self._events.get_events_in_order(page.root_ids))
        response: dict[str, Any] = {
            "chunk": await self._serializer.serialize(roots, requester=requester, now_ms=now_ms)
        }
        if page.next_token is not None:
            response["next_batch"] = str(page.next_token)
        return response
