from veche.protocol.client_events import format_client_event, strip_event_for_invite
from veche.protocol.events import Event
from veche.protocol.room_versions import get_room_version

PDU = {
    "auth_events": ["$a"], "prev_events": ["$p"], "depth": 5, "hashes": {"sha256": "x"},
    "signatures": {"hs": {"ed25519:1": "s"}}, "content": {"body": "hi"}, "origin_server_ts": 1000,
    "room_id": "!r:hs", "sender": "@alice:hs", "type": "m.room.message",
}


def test_drops_federation_keys_and_adds_age():
    served = format_client_event(Event(PDU, get_room_version("10"), "$e"), now_ms=1500)
    assert served == {
        "content": {"body": "hi"}, "event_id": "$e", "origin_server_ts": 1000, "room_id": "!r:hs",
        "sender": "@alice:hs", "type": "m.room.message", "unsigned": {"age": 500},
    }


def test_sync_format_omits_room_id_and_merges_unsigned():
    served = format_client_event(
        Event(PDU, get_room_version("10"), "$e"), now_ms=1000, include_room_id=False,
        unsigned={"transaction_id": "t1"},
    )
    assert "room_id" not in served
    assert served["unsigned"] == {"age": 0, "transaction_id": "t1"}


def test_redacts_is_served_in_both_places():
    v11 = {**PDU, "type": "m.room.redaction", "content": {"redacts": "$x"}}
    served = format_client_event(Event(v11, get_room_version("11"), "$e"), now_ms=1000)
    assert served["redacts"] == "$x" and served["content"]["redacts"] == "$x"
    v10 = {**PDU, "type": "m.room.redaction", "redacts": "$x", "content": {}}
    served = format_client_event(Event(v10, get_room_version("10"), "$e"), now_ms=1000)
    assert served["redacts"] == "$x" and served["content"]["redacts"] == "$x"


def test_v12_create_event_gets_its_derived_room_id():
    create = {k: v for k, v in PDU.items() if k != "room_id"}
    served = format_client_event(Event({**create, "type": "m.room.create", "state_key": ""},
                                       get_room_version("12"), "$abc"), now_ms=1000)
    assert served["room_id"] == "!abc"


def test_stripped_state():
    member = {**PDU, "type": "m.room.member", "state_key": "@bob:hs", "content": {"membership": "invite"}}
    assert strip_event_for_invite(Event(member, get_room_version("10"), "$e")) == {
        "content": {"membership": "invite"}, "sender": "@alice:hs", "state_key": "@bob:hs",
        "type": "m.room.member",
    }
