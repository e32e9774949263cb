import pytest

from veche.protocol.canonical_json import encode_canonical_json
from veche.protocol.limits import FIELD_LIMITS, MAX_PDU_SIZE, EventTooLarge, check_pdu_size

PDU = {
    "type": "m.room.message",
    "room_id": "!r:hs",
    "sender": "@u:hs",
    "origin_server_ts": 1,
    "content": {"body": ""},
    "signatures": {},
}


def _with_body_size(total: int) -> dict:
    pdu = {**PDU, "content": {"body": ""}}
    pdu["content"]["body"] = "x" * (total - len(encode_canonical_json(pdu)))
    assert len(encode_canonical_json(pdu)) == total
    return pdu


def test_limits_from_spec():
    assert MAX_PDU_SIZE == 65536
    assert FIELD_LIMITS == {
        "sender": 255,
        "room_id": 255,
        "state_key": 255,
        "type": 255,
        "event_id": 255,
    }


def test_total_size_boundary():
    check_pdu_size(_with_body_size(MAX_PDU_SIZE))
    with pytest.raises(EventTooLarge, match="65537 bytes"):
        check_pdu_size(_with_body_size(MAX_PDU_SIZE + 1))


def test_precomputed_encoding_is_used():
    check_pdu_size(PDU, encoded=encode_canonical_json(PDU))
    with pytest.raises(EventTooLarge):
        check_pdu_size(PDU, encoded=b" " * (MAX_PDU_SIZE + 1))


@pytest.mark.parametrize("field", sorted(FIELD_LIMITS))
def test_field_limits_name_the_field(field):
    check_pdu_size({**PDU, field: "a" * 255})
    with pytest.raises(EventTooLarge, match=f"'{field}'"):
        check_pdu_size({**PDU, field: "a" * 256})
    # Bytes, not characters.
    with pytest.raises(EventTooLarge, match=f"'{field}'"):
        check_pdu_size({**PDU, field: "é" * 128})


def test_legacy_numbers_do_not_break_the_size_check():
    check_pdu_size({**PDU, "content": {"level": 50.5, "big": 2**70}})
