"""Auth rules other than membership and power level changes: create events, the auth event
list, federation, aliases, required levels, reserved state keys, v1 redactions, selection."""

import pytest

from tests.protocol.auth_room import ALICE, ALL_VERSIONS, BOB, CAROL, EVE, MOD, AuthRoom
from tests.protocol.event_factory import EventFactory
from veche.protocol.auth_rules import (
    AuthError,
    auth_types_for_event,
    check_auth_event_list,
    check_auth_rules,
    servers_required_to_sign,
)
from veche.protocol.events import Event
from veche.protocol.room_versions import get_room_version

V1_TO_11 = [str(n) for n in range(1, 12)]


def allowed(room: AuthRoom, event: Event) -> bool:
    try:
        room.check(event)
    except AuthError:
        return False
    return True


# --- m.room.create ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_create_is_allowed(version):
    create = EventFactory(version).create(ALICE)
    check_auth_rules(create, {})


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_create_with_prev_events_is_rejected(version):
    f = EventFactory(version)
    other = f.create(ALICE)
    create = f.create(ALICE, prev_events=[other])
    with pytest.raises(AuthError, match="prev_events"):
        check_auth_rules(create, {})


@pytest.mark.parametrize("version", V1_TO_11)
def test_create_room_id_must_be_on_senders_server(version):
    create = EventFactory(version, room_id="!room:other.org").create(ALICE)
    with pytest.raises(AuthError, match="server"):
        check_auth_rules(create, {})


def test_v12_create_must_not_have_room_id():
    create = EventFactory("12").create(ALICE, extra={"room_id": "!room:example.org"})
    with pytest.raises(AuthError, match="room_id"):
        check_auth_rules(create, {})


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize("room_version,ok", [("1", True), ("12", True), ("13", False), ("foo", False), (12, False)])
def test_create_room_version_must_be_known(version, room_version, ok):
    create = EventFactory(version).create(ALICE, {"room_version": room_version})
    if ok:
        check_auth_rules(create, {})
    else:
        with pytest.raises(AuthError, match="room version"):
            check_auth_rules(create, {})


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_create_needs_creator_before_v11(version):
    create = EventFactory(version).create(ALICE)
    create.pdu["content"].pop("creator", None)  # the factory adds it for v1–v10
    if get_room_version(version).implicit_room_creator:
        check_auth_rules(create, {})
    else:
        with pytest.raises(AuthError, match="creator"):
            check_auth_rules(create, {})


@pytest.mark.parametrize(
    "additional,ok",
    [([], True), ([BOB, CAROL], True), ("@bob:example.org", False), ([BOB, 5], False), (["bob"], False),
     (["@bob"], False), ([None], False)],
)
def test_v12_additional_creators_must_be_user_ids(additional, ok):
    create = EventFactory("12").create(ALICE, {"additional_creators": additional})
    if ok:
        check_auth_rules(create, {})
    else:
        with pytest.raises(AuthError, match="additional_creators"):
            check_auth_rules(create, {})


def test_additional_creators_not_validated_before_v12():
    create = EventFactory("11").create(ALICE, {"additional_creators": "nonsense"})
    check_auth_rules(create, {})


# --- the auth event list -------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_well_formed_auth_events_pass(version):
    room = AuthRoom(version)
    room.check(room.event("m.room.message", BOB, {"body": "hi"}))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_duplicate_auth_event_keys_are_rejected(version):
    room = AuthRoom(version)
    old_pl = room.state[("m.room.power_levels", "")]
    new_pl = room.apply(room.state_event("m.room.power_levels", ALICE, "", dict(old_pl.content)))
    auth = [old_pl, new_pl, room.state[("m.room.member", BOB)]]
    if not room.rv.room_id_from_create_event:
        auth.insert(0, room.create)
    msg = room.event("m.room.message", BOB, {}, auth_events=auth)
    with pytest.raises(AuthError, match="duplicate"):
        check_auth_event_list(msg, auth)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unselected_auth_event_is_rejected(version):
    room = AuthRoom(version)
    extra = [room.state[("m.room.join_rules", "")]]
    msg = room.event("m.room.message", BOB, {}, auth_events=[room.create, room.state[("m.room.member", BOB)], *extra])
    with pytest.raises(AuthError, match="may cite"):
        room.check(msg)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_rejected_auth_event_is_rejected(version):
    room = AuthRoom(version)
    member = room.state[("m.room.member", BOB)]
    member.rejected_reason = "test"
    with pytest.raises(AuthError, match="rejected"):
        room.check(room.event("m.room.message", BOB, {}))


@pytest.mark.parametrize("version", V1_TO_11)
def test_missing_create_in_auth_events_is_rejected(version):
    room = AuthRoom(version)
    msg = room.event("m.room.message", BOB, {}, auth_events=[room.state[("m.room.member", BOB)]])
    with pytest.raises(AuthError, match="m.room.create"):
        check_auth_event_list(msg, [room.state[("m.room.member", BOB)]])


def test_v12_create_must_not_be_in_auth_events():
    room = AuthRoom("12")
    member = room.state[("m.room.member", BOB)]
    msg = room.event("m.room.message", BOB, {}, raw_auth_event_ids=[room.create.event_id, member.event_id])
    with pytest.raises(AuthError, match="may cite"):
        check_auth_event_list(msg, [room.create, member])


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_auth_event_from_another_room_is_rejected(version):
    room = AuthRoom(version)
    other_room_id = "!elsewhere" if version == "12" else "!other:example.org"
    foreign = EventFactory(version, room_id=other_room_id).member(BOB, "join")
    keys = auth_types_for_event(room.rv, "m.room.message", None, BOB, {})
    auth = [foreign if k == ("m.room.member", BOB) else room.state[k] for k in keys]
    msg = room.event("m.room.message", BOB, {}, auth_events=auth)
    with pytest.raises(AuthError, match="another room"):
        check_auth_event_list(msg, auth)
    with pytest.raises(AuthError, match="another room"):
        check_auth_rules(msg, {**room.state, ("m.room.member", BOB): foreign})


# --- state-level checks ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_no_create_event_in_state_is_rejected(version):
    room = AuthRoom(version)
    msg = room.event("m.room.message", BOB, {})
    state = {k: v for k, v in room.state.items() if k[0] != "m.room.create"}
    with pytest.raises(AuthError, match="m.room.create"):
        check_auth_rules(msg, state)


def test_v12_room_id_must_name_the_create_event():
    room = AuthRoom("12")
    msg = room.event("m.room.message", BOB, {}, extra={"room_id": "!notthecreate"})
    with pytest.raises(AuthError, match="create event"):
        check_auth_rules(msg, room.state)


def test_v12_rejected_create_event_rejects_everything():
    room = AuthRoom("12")
    room.create.rejected_reason = "bad"
    with pytest.raises(AuthError, match="rejected"):
        check_auth_rules(room.event("m.room.message", BOB, {}), room.state)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_m_federate_false_keeps_other_servers_out(version):
    room = AuthRoom(version, join_rule="public", create_content={"m.federate": False})
    assert not allowed(room, room.member(CAROL, "join"))
    assert allowed(room, room.member("@dan:example.org", "join"))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_sender_must_be_joined(version):
    room = AuthRoom(version, members={MOD: "join", BOB: "invite"})
    assert not allowed(room, room.event("m.room.message", BOB, {}))
    assert not allowed(room, room.event("m.room.message", CAROL, {}))
    assert allowed(room, room.event("m.room.message", MOD, {}))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_aliases_special_case(version):
    room = AuthRoom(version)
    # A server may publish its own aliases without being in the room (v1–v5 only).
    own = room.state_event("m.room.aliases", CAROL, "other.org", {"aliases": ["#a:other.org"]})
    wrong = room.state_event("m.room.aliases", CAROL, "example.org", {"aliases": []})
    if room.rv.special_case_aliases_auth:
        assert allowed(room, own)
        assert not allowed(room, wrong)
    else:
        assert not allowed(room, own)
        # Now an ordinary state event: state_default (50) applies.
        assert allowed(room, room.state_event("m.room.aliases", MOD, "example.org", {"aliases": []}))
        assert not allowed(room, room.state_event("m.room.aliases", BOB, "example.org", {"aliases": []}))


@pytest.mark.parametrize("version", ["1", "5"])
def test_aliases_without_state_key_is_rejected(version):
    room = AuthRoom(version)
    with pytest.raises(AuthError, match="state key"):
        check_auth_rules(room.event("m.room.aliases", BOB, {}), room.state)


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_third_party_invite_event_needs_invite_level(version):
    room = AuthRoom(version, power_levels={"users": {MOD: 50}, "invite": 20, "state_default": 0})
    if not room.rv.privileged_creators:
        room = AuthRoom(version, power_levels={"users": {ALICE: 100, MOD: 50}, "invite": 20, "state_default": 0})
    content = {"display_name": "x", "public_key": "abc"}
    assert allowed(room, room.state_event("m.room.third_party_invite", MOD, "tok", content))
    assert not allowed(room, room.state_event("m.room.third_party_invite", BOB, "tok", content))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_required_power_levels(version):
    users = {MOD: 50} if version == "12" else {ALICE: 100, MOD: 50}
    room = AuthRoom(version, power_levels={
        "users": users, "events_default": 10, "state_default": 40,
        "events": {"m.room.topic": 0, "m.room.encrypted": 0, "m.room.power_levels": 100},
    })
    assert not allowed(room, room.event("m.room.message", BOB, {}))
    assert allowed(room, room.event("m.room.message", MOD, {}))
    assert allowed(room, room.event("m.room.encrypted", BOB, {}))
    assert allowed(room, room.state_event("m.room.topic", BOB, "", {"topic": "t"}))
    assert not allowed(room, room.state_event("m.room.name", BOB, "", {"name": "n"}))
    assert allowed(room, room.state_event("m.room.name", MOD, "", {"name": "n"}))
    # A state event is one with a state key, even for a type listed for messages.
    assert not allowed(room, room.state_event("m.custom", BOB, "", {}))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_user_state_keys_are_reserved(version):
    room = AuthRoom(version, power_levels={"users": {MOD: 50} if version == "12" else {ALICE: 100, MOD: 50}, "state_default": 0})
    assert allowed(room, room.state_event("m.custom", BOB, BOB, {}))
    assert not allowed(room, room.state_event("m.custom", MOD, BOB, {}))
    assert allowed(room, room.state_event("m.custom", BOB, "not_a_user", {}))


# --- redactions -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_v1_redaction_of_own_server_event(version):
    room = AuthRoom(version, members={MOD: "join", BOB: "join", CAROL: "join"})
    target = room.event("m.room.message", BOB, {})
    assert allowed(room, room.event("m.room.redaction", BOB, {}, redacts=target.event_id))
    foreign = room.event("m.room.message", CAROL, {})
    assert not allowed(room, room.event("m.room.redaction", BOB, {}, redacts=foreign.event_id))
    # At or above the redact level anything goes.
    assert allowed(room, room.event("m.room.redaction", MOD, {}, redacts=foreign.event_id))


@pytest.mark.parametrize("version", [str(n) for n in range(3, 13)])
def test_redaction_is_an_ordinary_event_from_v3(version):
    room = AuthRoom(version, members={MOD: "join", BOB: "join", CAROL: "join"})
    foreign = room.event("m.room.message", CAROL, {})
    assert allowed(room, room.event("m.room.redaction", BOB, {}, redacts=foreign.event_id))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_redaction_level_from_events(version):
    users = {MOD: 50} if version == "12" else {ALICE: 100, MOD: 50}
    room = AuthRoom(version, power_levels={"users": users, "events": {"m.room.redaction": 50}})
    target = room.event("m.room.message", BOB, {})
    assert not allowed(room, room.event("m.room.redaction", BOB, {}, redacts=target.event_id))


# --- selection -----------------------------------------------------------------------------


def test_selection_for_message():
    rv = get_room_version("11")
    assert auth_types_for_event(rv, "m.room.message", None, BOB, {}) == [
        ("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", BOB),
    ]
    rv12 = get_room_version("12")
    assert auth_types_for_event(rv12, "m.room.message", None, BOB, {}) == [
        ("m.room.power_levels", ""), ("m.room.member", BOB),
    ]


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_selection_for_create_is_empty(version):
    assert auth_types_for_event(get_room_version(version), "m.room.create", "", ALICE, {}) == []


def test_selection_for_memberships():
    rv = get_room_version("10")
    base = [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", ALICE)]
    assert auth_types_for_event(rv, "m.room.member", BOB, ALICE, {"membership": "ban"}) == [
        *base, ("m.room.member", BOB),
    ]
    assert auth_types_for_event(rv, "m.room.member", ALICE, ALICE, {"membership": "join"}) == [
        *base, ("m.room.join_rules", ""),
    ]
    for membership in ("invite", "knock"):
        assert ("m.room.join_rules", "") in auth_types_for_event(rv, "m.room.member", BOB, ALICE, {"membership": membership})
    assert ("m.room.join_rules", "") not in auth_types_for_event(rv, "m.room.member", BOB, BOB, {"membership": "leave"})
    tpi = {"membership": "invite", "third_party_invite": {"display_name": "b", "signed": {"mxid": BOB, "token": "tok"}}}
    assert auth_types_for_event(rv, "m.room.member", BOB, ALICE, tpi)[-1] == ("m.room.third_party_invite", "tok")
    restricted = {"membership": "join", "join_authorised_via_users_server": MOD}
    assert auth_types_for_event(rv, "m.room.member", BOB, BOB, restricted)[-1] == ("m.room.member", MOD)


def test_selection_ignores_authoriser_before_v8():
    restricted = {"membership": "join", "join_authorised_via_users_server": MOD}
    types = auth_types_for_event(get_room_version("7"), "m.room.member", BOB, BOB, restricted)
    assert ("m.room.member", MOD) not in types


# --- signatures the rules depend on -----------------------------------------------------------


def test_servers_required_to_sign():
    f1 = EventFactory("1")
    msg = f1.event("m.room.message", BOB, {}, event_id="$abc:origin.org")
    assert servers_required_to_sign(msg) == {"example.org", "origin.org"}
    f10 = EventFactory("10")
    join = f10.member(CAROL, "join", content={"join_authorised_via_users_server": MOD})
    assert servers_required_to_sign(join) == {"other.org", "example.org"}
    assert servers_required_to_sign(f10.member(EVE, "join")) == {"evil.org"}
