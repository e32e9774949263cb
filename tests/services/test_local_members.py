"""LocalMembers: each room's joined local users, cached until a member event lands."""

from __future__ import annotations

from veche.services.rooms.members import LocalMembers


class CountingRooms:
    def __init__(self, joined: dict[str, list[str]]) -> None:
        self.joined = joined
        self.batches: list[list[str]] = []

    async def get_joined_members(self, room_id: str) -> list[str]:
        self.batches.append([room_id])
        return list(self.joined.get(room_id, ()))

    async def get_many_joined_members(self, room_ids: list[str]) -> dict[str, list[str]]:
        self.batches.append(sorted(room_ids))
        return {room_id: list(self.joined.get(room_id, ())) for room_id in room_ids}


async def test_joined_many_reads_the_uncached_rooms_in_one_batch_and_keeps_local_users() -> None:
    rooms = CountingRooms({"!a:hs": ["@x:hs", "@y:other"], "!b:hs": ["@z:hs"], "!c:hs": []})
    members = LocalMembers(rooms, "hs")  # type: ignore[arg-type]
    assert await members.joined("!a:hs") == {"@x:hs"}

    found = await members.joined_many(["!a:hs", "!b:hs", "!c:hs"])

    assert found == {"!a:hs": frozenset({"@x:hs"}), "!b:hs": frozenset({"@z:hs"}), "!c:hs": frozenset()}
    assert rooms.batches == [["!a:hs"], ["!b:hs", "!c:hs"]]
    assert await members.joined_many(["!b:hs"]) == {"!b:hs": frozenset({"@z:hs"})}
    assert len(rooms.batches) == 2


async def test_joined_many_rereads_an_invalidated_room() -> None:
    rooms = CountingRooms({"!a:hs": ["@x:hs"]})
    members = LocalMembers(rooms, "hs")  # type: ignore[arg-type]
    await members.joined_many(["!a:hs"])
    rooms.joined["!a:hs"].append("@w:hs")
    members.invalidate("!a:hs")

    assert await members.joined_many(["!a:hs"]) == {"!a:hs": frozenset({"@x:hs", "@w:hs"})}
