"""Auth rules for m.room.member: join, invite (plain and third-party), leave/kick/unban, ban,
knock, across the room versions where they differ."""

import pytest

from tests.protocol.auth_room import ALICE, ALL_VERSIONS, BOB, CAROL, EVE, MOD, AuthRoom
from veche.protocol.auth_rules import AuthError, check_auth_rules
from veche.protocol.events import Event
from veche.protocol.signing import encode_verify_key_base64, generate_signing_key, sign_json

KNOCK_VERSIONS = [v for v in ALL_VERSIONS if int(v) >= 7]
RESTRICTED_VERSIONS = [v for v in ALL_VERSIONS if int(v) >= 8]
KNOCK_RESTRICTED_VERSIONS = [v for v in ALL_VERSIONS if int(v) >= 10]


def allowed(room: AuthRoom, event: Event) -> bool:
    try:
        room.check(event)
    except AuthError:
        return False
    return True


# --- join ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_creator_first_join_after_create(version):
    room = AuthRoom(version)
    # AuthRoom already applied it; build it again against the state right after create.
    create = room.create
    join = room.factory.member(ALICE, "join", auth_events=[create], prev_events=[create])
    check_auth_rules(join, {("m.room.create", ""): create})
    # Anyone else, or the creator later on with no join rules, is not let in this way.
    other = room.factory.member(BOB, "join", auth_events=[create], prev_events=[create])
    with pytest.raises(AuthError):
        check_auth_rules(other, {("m.room.create", ""): create})


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_join_on_behalf_of_another_user_is_rejected(version):
    room = AuthRoom(version, join_rule="public")
    assert not allowed(room, room.member(CAROL, "join", sender=BOB))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_banned_user_cannot_join(version):
    room = AuthRoom(version, join_rule="public", members={MOD: "join", CAROL: "ban"})
    assert not allowed(room, room.member(CAROL, "join"))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_public_join(version):
    room = AuthRoom(version, join_rule="public")
    assert allowed(room, room.member(CAROL, "join"))


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize("join_rule", ["invite", None])
def test_invite_only_join(version, join_rule):
    # Without a join rules event the room behaves as invite-only.
    room = AuthRoom(version, join_rule=join_rule, members={MOD: "join", BOB: "invite"})
    assert not allowed(room, room.member(CAROL, "join"))
    assert allowed(room, room.member(BOB, "join"))
    # An already joined user may send a new join (profile change).
    assert allowed(room, room.member(MOD, "join", content={"displayname": "Mod"}))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_private_join_rule_admits_nobody_new(version):
    room = AuthRoom(version, join_rule="private", members={MOD: "join", BOB: "invite"})
    assert not allowed(room, room.member(CAROL, "join"))
    assert not allowed(room, room.member(BOB, "join"))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_knock_join_rule_join(version):
    room = AuthRoom(version, join_rule="knock", members={MOD: "join", BOB: "invite", EVE: "knock"})
    assert not allowed(room, room.member(CAROL, "join"))
    assert not allowed(room, room.member(EVE, "join"))
    # Before v7 "knock" is no join rule at all, so nobody gets in.
    assert allowed(room, room.member(BOB, "join")) == room.rv.knock_join_rule


def _restricted_join(room: AuthRoom, user: str, authoriser: str | None, signed: bool = True) -> Event:
    content = {"join_authorised_via_users_server": authoriser} if authoriser is not None else {}
    signatures = {user.split(":", 1)[1]: {"ed25519:a": "sig"}}
    if signed and authoriser is not None:
        signatures[authoriser.split(":", 1)[1]] = {"ed25519:b": "sig"}
    return room.member(user, "join", content=content, extra={"signatures": signatures})


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize("join_rule", ["restricted", "knock_restricted"])
def test_restricted_join(version, join_rule):
    room = AuthRoom(version, join_rule=join_rule, members={MOD: "join", BOB: "join", "@inv:other.org": "invite"})
    supported = room.rv.restricted_join_rule if join_rule == "restricted" else room.rv.knock_restricted_join_rule
    assert allowed(room, _restricted_join(room, CAROL, MOD)) == supported
    assert allowed(room, room.member("@inv:other.org", "join")) == supported
    assert not allowed(room, _restricted_join(room, CAROL, None))


@pytest.mark.parametrize("version", RESTRICTED_VERSIONS)
def test_restricted_join_authoriser_must_be_joined_and_able_to_invite(version):
    users = {MOD: 50} if version == "12" else {ALICE: 100, MOD: 50}
    room = AuthRoom(
        version, join_rule="restricted", power_levels={"users": users, "invite": 10},
        members={MOD: "join", BOB: "join", "@left:example.org": "leave"},
    )
    assert allowed(room, _restricted_join(room, CAROL, MOD))
    assert not allowed(room, _restricted_join(room, CAROL, BOB))  # level 0 < invite 10
    assert not allowed(room, _restricted_join(room, CAROL, "@left:example.org"))


@pytest.mark.parametrize("version", RESTRICTED_VERSIONS)
def test_restricted_join_must_be_signed_by_authorising_server(version):
    room = AuthRoom(version, join_rule="restricted")
    assert allowed(room, _restricted_join(room, CAROL, MOD))
    with pytest.raises(AuthError, match="signed"):
        room.check(_restricted_join(room, CAROL, MOD, signed=False))


@pytest.mark.parametrize("version", RESTRICTED_VERSIONS)
def test_authoriser_signature_checked_for_any_membership(version):
    # Rule 4.2 applies to every m.room.member event carrying the key, even in public rooms.
    room = AuthRoom(version, join_rule="public")
    assert not allowed(room, _restricted_join(room, CAROL, MOD, signed=False))
    assert not allowed(room, room.member(CAROL, "join", content={"join_authorised_via_users_server": "nope"}))


# --- invite ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_invite(version):
    room = AuthRoom(version, members={MOD: "join", BOB: "join", "@banned:x.org": "ban", "@out:x.org": "invite"})
    assert allowed(room, room.member(CAROL, "invite", sender=BOB))  # invite level defaults to 0
    assert not allowed(room, room.member(CAROL, "invite", sender=EVE))  # sender not joined
    assert not allowed(room, room.member(MOD, "invite", sender=BOB))  # already joined
    assert not allowed(room, room.member("@banned:x.org", "invite", sender=MOD))
    assert not allowed(room, room.member(CAROL, "invite", sender="@out:x.org"))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_invite_needs_invite_level(version):
    users = {MOD: 50} if version == "12" else {ALICE: 100, MOD: 50}
    room = AuthRoom(version, power_levels={"users": users, "invite": 50})
    assert not allowed(room, room.member(CAROL, "invite", sender=BOB))
    assert allowed(room, room.member(CAROL, "invite", sender=MOD))


class ThirdPartyInvite:
    """An identity server key, an m.room.third_party_invite in the room, and signed blobs."""

    def __init__(self, room: AuthRoom, sender: str = MOD, token: str = "tok", key_field: str = "public_key") -> None:
        self.key = generate_signing_key("0")
        public = encode_verify_key_base64(self.key.verify_key)
        if key_field == "public_key":
            content = {"display_name": "c...@e.org", "public_key": public}
        else:
            content = {"display_name": "c...@e.org", "public_keys": [{"public_key": public}]}
        self.token = token
        self.event = room.apply(room.state_event("m.room.third_party_invite", sender, token, content))

    def signed(self, mxid: str, key=None) -> dict:
        return sign_json({"mxid": mxid, "token": self.token}, "id.example.org", key or self.key)


def _tpi_member(room: AuthRoom, target: str, sender: str, signed) -> Event:
    tpi = {"display_name": "c...@e.org"}
    if signed is not None:
        tpi["signed"] = signed
    return room.member(target, "invite", sender=sender, content={"third_party_invite": tpi})


@pytest.mark.parametrize("version", ALL_VERSIONS)
@pytest.mark.parametrize("key_field", ["public_key", "public_keys"])
def test_third_party_invite_with_valid_signature(version, key_field):
    room = AuthRoom(version)
    invite = ThirdPartyInvite(room, key_field=key_field)
    assert allowed(room, _tpi_member(room, CAROL, MOD, invite.signed(CAROL)))


@pytest.mark.parametrize("version", ["1", "9", "12"])
def test_third_party_invite_with_urlsafe_public_key(version):
    room = AuthRoom(version)
    invite = ThirdPartyInvite(room)
    public = invite.event.content["public_key"]
    urlsafe = public.replace("+", "-").replace("/", "_")
    room.apply(room.state_event("m.room.third_party_invite", MOD, "tok", {"display_name": "x", "public_key": urlsafe}))
    assert allowed(room, _tpi_member(room, CAROL, MOD, invite.signed(CAROL)))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_third_party_invite_rejections(version):
    room = AuthRoom(version, members={MOD: "join", BOB: "join", "@banned:x.org": "ban"})
    invite = ThirdPartyInvite(room)
    # Signed by some other key.
    assert not allowed(room, _tpi_member(room, CAROL, MOD, invite.signed(CAROL, key=generate_signing_key("0"))))
    # Signature does not cover what is presented (mxid altered after signing).
    tampered = invite.signed(CAROL)
    tampered["mxid"] = EVE
    assert not allowed(room, _tpi_member(room, EVE, MOD, tampered))
    # mxid is not the invited user.
    assert not allowed(room, _tpi_member(room, EVE, MOD, invite.signed(CAROL)))
    # No signed object / incomplete signed object.
    assert not allowed(room, _tpi_member(room, CAROL, MOD, None))
    assert not allowed(room, _tpi_member(room, CAROL, MOD, {"mxid": CAROL}))
    # Not the sender of the m.room.third_party_invite.
    assert not allowed(room, _tpi_member(room, CAROL, BOB, invite.signed(CAROL)))
    # Banned target.
    assert not allowed(room, _tpi_member(room, "@banned:x.org", MOD, invite.signed("@banned:x.org")))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_third_party_invite_for_unknown_token(version):
    room = AuthRoom(version)
    invite = ThirdPartyInvite(room)
    signed = sign_json({"mxid": CAROL, "token": "other"}, "id.example.org", invite.key)
    assert not allowed(room, _tpi_member(room, CAROL, MOD, signed))


# --- leave, kick, unban ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_own_leave(version):
    room = AuthRoom(version, members={MOD: "join", BOB: "join", "@inv:x.org": "invite", "@b:x.org": "ban",
                                      "@k:x.org": "knock", "@gone:x.org": "leave"})
    assert allowed(room, room.member(BOB, "leave"))
    assert allowed(room, room.member("@inv:x.org", "leave"))  # rejecting an invite
    assert not allowed(room, room.member("@b:x.org", "leave"))
    assert not allowed(room, room.member("@gone:x.org", "leave"))
    assert not allowed(room, room.member(CAROL, "leave"))
    # Retracting a knock exists from v7 (before that "knock" is no membership to leave from).
    assert allowed(room, room.member("@k:x.org", "leave")) == room.rv.knock_join_rule


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_kick(version):
    room = AuthRoom(version, members={MOD: "join", BOB: "join", "@mod2:example.org": "join", "@inv:x.org": "invite"})
    assert allowed(room, room.member(BOB, "leave", sender=MOD))
    assert allowed(room, room.member("@inv:x.org", "leave", sender=MOD))  # revoking an invite
    assert not allowed(room, room.member(MOD, "leave", sender=BOB))  # below kick level
    assert allowed(room, room.member(MOD, "leave", sender=ALICE))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_kick_needs_target_strictly_below(version):
    users = {MOD: 50, "@mod2:example.org": 50} if version == "12" else {ALICE: 100, MOD: 50, "@mod2:example.org": 50}
    room = AuthRoom(version, power_levels={"users": users, "kick": 0},
                    members={MOD: "join", BOB: "join", "@mod2:example.org": "join", "@bob2:example.org": "join"})
    assert not allowed(room, room.member("@mod2:example.org", "leave", sender=MOD))
    assert not allowed(room, room.member("@bob2:example.org", "leave", sender=BOB))
    assert allowed(room, room.member(BOB, "leave", sender=MOD))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_kicker_must_be_joined(version):
    room = AuthRoom(version, members={MOD: "invite", BOB: "join"})
    assert not allowed(room, room.member(BOB, "leave", sender=MOD))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unban_needs_ban_and_kick_levels(version):
    users = {MOD: 50, BOB: 40} if version == "12" else {ALICE: 100, MOD: 50, BOB: 40}
    room = AuthRoom(version, power_levels={"users": users, "ban": 50, "kick": 30},
                    members={MOD: "join", BOB: "join", CAROL: "ban"})
    assert allowed(room, room.member(CAROL, "leave", sender=MOD))
    assert not allowed(room, room.member(CAROL, "leave", sender=BOB))  # kick ok, ban level not
    room2 = AuthRoom(version, power_levels={"users": users, "ban": 30, "kick": 45},
                     members={MOD: "join", BOB: "join", CAROL: "ban"})
    assert not allowed(room2, room2.member(CAROL, "leave", sender=BOB))  # ban ok, kick level not


# --- ban -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_ban(version):
    room = AuthRoom(version)
    assert allowed(room, room.member(BOB, "ban", sender=MOD))
    assert allowed(room, room.member(CAROL, "ban", sender=MOD))  # pre-emptive ban of an outsider
    assert not allowed(room, room.member(MOD, "ban", sender=BOB))
    assert not allowed(room, room.member(ALICE, "ban", sender=MOD))  # target not below sender
    assert not allowed(room, room.member(MOD, "ban", sender=MOD))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_banner_must_be_joined(version):
    room = AuthRoom(version, members={MOD: "leave", BOB: "join"})
    assert not allowed(room, room.member(BOB, "ban", sender=MOD))


def test_v12_creator_cannot_be_banned_or_kicked_by_anyone_else():
    room = AuthRoom("12", create_content={"additional_creators": [CAROL]},
                    members={MOD: "join", BOB: "join", CAROL: "join"})
    assert not allowed(room, room.member(ALICE, "ban", sender=CAROL))  # inf is not below inf
    assert not allowed(room, room.member(ALICE, "leave", sender=MOD))
    assert allowed(room, room.member(MOD, "ban", sender=CAROL))


# --- knock -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_knock(version):
    room = AuthRoom(version, join_rule="knock")
    assert allowed(room, room.member(CAROL, "knock")) == room.rv.knock_join_rule


@pytest.mark.parametrize("version", KNOCK_VERSIONS)
def test_knock_restrictions(version):
    room = AuthRoom(version, join_rule="knock",
                    members={MOD: "join", BOB: "join", "@inv:x.org": "invite", "@b:x.org": "ban", "@k:x.org": "knock",
                             "@gone:x.org": "leave"})
    assert not allowed(room, room.member(CAROL, "knock", sender=BOB))
    assert not allowed(room, room.member(BOB, "knock"))
    assert not allowed(room, room.member("@inv:x.org", "knock"))
    assert not allowed(room, room.member("@b:x.org", "knock"))
    assert allowed(room, room.member("@k:x.org", "knock"))
    assert allowed(room, room.member("@gone:x.org", "knock"))


@pytest.mark.parametrize("version", KNOCK_VERSIONS)
@pytest.mark.parametrize("join_rule", ["public", "invite", "restricted", "knock_restricted"])
def test_knock_needs_a_knock_join_rule(version, join_rule):
    room = AuthRoom(version, join_rule=join_rule)
    expected = join_rule == "knock_restricted" and room.rv.knock_restricted_join_rule
    assert allowed(room, room.member(CAROL, "knock")) == expected


# --- malformed and unknown -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unknown_membership(version):
    room = AuthRoom(version, join_rule="public")
    assert not allowed(room, room.member(CAROL, "lurk"))
    assert not allowed(room, room.member(CAROL, 5))


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_member_needs_state_key_and_membership(version):
    room = AuthRoom(version, join_rule="public")
    with pytest.raises(AuthError, match="membership"):
        check_auth_rules(room.state_event("m.room.member", CAROL, CAROL, {}), room.state)
    with pytest.raises(AuthError, match="state key"):
        check_auth_rules(room.event("m.room.member", CAROL, {"membership": "join"}), room.state)


@pytest.mark.parametrize("version", ["1", "12"])
@pytest.mark.parametrize(
    "signatures",
    [{}, {"id.example.org": {"ed25519:0": 5}}, {"id.example.org": {"curve25519:0": "AAAA"}}, {"id.example.org": []},
     "nope", {"id.example.org": {"ed25519:0": "not base64!"}}],
)
def test_third_party_invite_with_malformed_signatures(version, signatures):
    room = AuthRoom(version)
    ThirdPartyInvite(room)
    signed = {"mxid": CAROL, "token": "tok", "signatures": signatures, "n": 1.5}
    assert not allowed(room, _tpi_member(room, CAROL, MOD, signed))
