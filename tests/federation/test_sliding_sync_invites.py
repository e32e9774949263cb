"""Sliding sync of an invite to a room on another server: its list filters read the
stripped state the invite carried, since this server holds none of the room."""

from __future__ import annotations

from veche.homeserver import HomeServer
from veche.protocol.sliding_sync import parse_request
from veche.storage.accounts import TokenInfo


async def test_remote_invite_is_filtered_by_its_stripped_state(servers: tuple[HomeServer, HomeServer]) -> None:
    a, b = servers
    alice, bob = f"@alice:{a.server_name}", f"@bob:{b.server_name}"
    space_id = await a.room_creator.create_room(
        alice,
        {
            "preset": "private_chat",
            "name": "A space over there",
            "creation_content": {"type": "m.space"},
            "initial_state": [
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            ],
        },
    )
    await a.membership.invite(alice, space_id, bob)

    requester = TokenInfo(token_id=0, user_id=bob, device_id="BOBDEVICE", is_guest=False, expires_ts=None)
    request = parse_request(
        {
            "lists": {
                name: {"ranges": [[0, 9]], "timeline_limit": 1, "filters": filters}
                for name, filters in {
                    "rooms": {"not_room_types": ["m.space"]},
                    "spaces": {"room_types": ["m.space"]},
                    "encrypted": {"is_encrypted": True},
                    "invites": {"is_invite": True},
                }.items()
            }
        }
    )
    body = await b.sliding_sync.sync(requester, request)
    assert {name: result["count"] for name, result in body["lists"].items()} == {
        "rooms": 0, "spaces": 1, "encrypted": 1, "invites": 1
    }
    invite = body["rooms"][space_id]
    assert invite["membership"] == "invite"
    assert {"m.room.create", "m.room.name", "m.room.member"} <= {e["type"] for e in invite["invite_state"]}
