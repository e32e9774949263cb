"""Which servers hear of what: every local event goes to every other server with a joined
member in its room, and EDUs go to the servers that share a room with their subject.

`FederationSender.on_event` is an `EventSender.after_persist` hook. It only forwards
events whose sender is local: events received over federation run the same hooks, and
sending them back would be an echo (their origin already delivers them to the room).

    await sender.send_event(event)                       # a local event to its room's servers
    await sender.send_event(event, received_from=origin) # a handshake's event, not echoed back
    await sender.send_edu_to_room(room_id, edu_type, content)
    await sender.send_edu_to_servers(servers, edu_type, content)
    await sender.servers_in_room(room_id) / servers_sharing_rooms_with(user_id)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from veche.protocol.events import Event
from veche.services.federation.outbox import FederationOutbox
from veche.storage.rooms import RoomStore


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


class FederationSender:
    def __init__(self, *, server_name: str, rooms: RoomStore, outbox: FederationOutbox) -> None:
        self._server_name = server_name
        self._rooms = rooms
        self.outbox = outbox

    async def on_event(self, event: Event, stream_ordering: int) -> None:
        if server_of(event.sender) == self._server_name:
            await self.send_event(event)

    async def send_event(self, event: Event, received_from: str | None = None) -> None:
        """Queue the event for the room's other servers; one it came from (a resident
        handshake's send_join/leave/knock) already has it."""
        destinations = await self.servers_in_room(event.room_id)
        if event.type == "m.room.member" and event.state_key is not None:
            # A kicked, banned or leaving user's server is no longer in the room but must
            # hear of it; an invited user's server learns of the room this way too.
            destinations.add(server_of(event.state_key))
        destinations.discard(self._server_name)
        if received_from is not None:
            destinations.discard(received_from)
        await self.outbox.send_pdu(destinations, event.event_id)

    async def servers_in_room(self, room_id: str) -> set[str]:
        return {server_of(user_id) for user_id in await self._rooms.get_joined_members(room_id)}

    async def servers_in_rooms(self, room_ids: Iterable[str]) -> set[str]:
        """The servers with a joined member in any of the rooms; the rooms whose members
        are not cached are read in one query, not one per room."""
        joined = await self._rooms.get_many_joined_members(room_ids)
        return {server_of(user_id) for members in joined.values() for user_id in members}

    async def servers_sharing_rooms_with(self, user_id: str) -> set[str]:
        servers = await self.servers_in_rooms(await self._rooms.get_rooms_for_user(user_id))
        servers.discard(self._server_name)
        return servers

    async def send_edu_to_room(self, room_id: str, edu_type: str, content: dict[str, Any]) -> None:
        await self.send_edu_to_servers(await self.servers_in_room(room_id), edu_type, content)

    async def send_edu_to_servers(self, servers: Iterable[str], edu_type: str, content: dict[str, Any]) -> None:
        await self.outbox.send_edus(
            [(server, edu_type, content) for server in sorted(set(servers)) if server != self._server_name]
        )
