import pytest

from veche.protocol.room_versions import (
    DEFAULT_ROOM_VERSION,
    KNOWN_ROOM_VERSIONS,
    EventFormat,
    StateResAlgorithm,
    UnsupportedRoomVersion,
    get_room_version,
)


def test_every_stable_version_is_known():
    assert sorted(KNOWN_ROOM_VERSIONS, key=int) == [str(n) for n in range(1, 13)]


def test_default_is_twelve():
    assert DEFAULT_ROOM_VERSION == "12"


def test_feature_matrix_from_rooms_index():
    # The feature matrix table of spec/content/rooms/_index.md.
    knock = {v for v, rv in KNOWN_ROOM_VERSIONS.items() if rv.knock_join_rule}
    restricted = {v for v, rv in KNOWN_ROOM_VERSIONS.items() if rv.restricted_join_rule}
    knock_restricted = {v for v, rv in KNOWN_ROOM_VERSIONS.items() if rv.knock_restricted_join_rule}
    creators = {v for v, rv in KNOWN_ROOM_VERSIONS.items() if rv.privileged_creators}
    assert knock == {"7", "8", "9", "10", "11", "12"}
    assert restricted == {"8", "9", "10", "11", "12"}
    assert knock_restricted == {"10", "11", "12"}
    assert creators == {"12"}


def test_event_formats_and_state_res():
    assert get_room_version("1").event_format is EventFormat.V1
    assert get_room_version("3").event_format is EventFormat.V3
    assert get_room_version("4").event_format is EventFormat.V4
    assert get_room_version("1").state_res is StateResAlgorithm.V1
    assert get_room_version("2").state_res is StateResAlgorithm.V2
    assert get_room_version("12").state_res is StateResAlgorithm.V2_1


def test_unknown_version():
    with pytest.raises(UnsupportedRoomVersion):
        get_room_version("13")
