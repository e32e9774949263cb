"""Server ACLs on inbound federation (server-server-api.md, "Server Access Control Lists").

Every inbound path that concerns a room calls `check(room_id, origin)` (or `is_allowed`
for PDUs and EDUs in a transaction, which are dropped one by one rather than failing the
request). The rule itself is `veche.protocol.server_acl`; this reads the room's current
m.room.server_acl and keeps its compiled patterns per event.
"""

from __future__ import annotations

from veche.errors import MatrixError
from veche.protocol.server_acl import SERVER_ACL_EVENT, ServerAcl
from veche.storage.cache import LruCache
from veche.storage.events import EventStore

COMPILED_CACHE_SIZE = 1000


class ServerAclChecker:
    def __init__(self, events: EventStore) -> None:
        self._events = events
        self._compiled: LruCache[str, ServerAcl] = LruCache(COMPILED_CACHE_SIZE)

    async def is_allowed(self, room_id: str, server_name: str) -> bool:
        event = await self._events.get_current_state_event(room_id, SERVER_ACL_EVENT, "")
        if event is None:
            return True
        acl = self._compiled.get(event.event_id)
        if acl is None:
            acl = ServerAcl.from_content(event.content)
            self._compiled.set(event.event_id, acl)
        return acl.allows(server_name)

    async def check(self, room_id: str, server_name: str) -> None:
        """Raise 403 M_FORBIDDEN if the room's ACL denies `server_name`."""
        if not await self.is_allowed(room_id, server_name):
            raise MatrixError(403, "M_FORBIDDEN", "Server is banned from this room by its ACL")
