"""POST /keys/device_signing/upload and /keys/signatures/upload, and what /keys/query
shows of cross-signing keys and signatures, on both engines."""

from __future__ import annotations

import copy

from tests.api.e2ee_helpers import CrossSigningSet, Ed25519Key, FakeDevice, post, upload_device_keys

UPLOAD = "/keys/device_signing/upload"


async def query(http, user, *user_ids):
    return await post(http, user, "/keys/query", {"device_keys": {u: [] for u in user_ids}})


async def test_first_upload_needs_no_password_and_is_visible(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    keys = CrossSigningSet(alice.user_id)
    await post(http, alice, UPLOAD, keys.upload_body())

    own = await query(http, alice, alice.user_id)
    assert own["master_keys"][alice.user_id] == keys.key_json("master")
    assert own["self_signing_keys"][alice.user_id] == keys.key_json("self_signing")
    assert own["user_signing_keys"][alice.user_id] == keys.key_json("user_signing")
    other = await query(http, bob, alice.user_id)
    assert other["master_keys"][alice.user_id] == keys.key_json("master")
    assert other["self_signing_keys"][alice.user_id] == keys.key_json("self_signing")
    # The user-signing key is its owner's alone.
    assert alice.user_id not in other.get("user_signing_keys", {})


async def test_reuploading_the_same_keys_needs_no_password(http, make_user):
    alice = await make_user("alice")
    keys = CrossSigningSet(alice.user_id)
    await post(http, alice, UPLOAD, keys.upload_body())
    await post(http, alice, UPLOAD, keys.upload_body())
    await post(http, alice, UPLOAD, {"master_key": keys.key_json("master")})


async def test_replacing_keys_needs_the_password(http, make_user):
    alice = await make_user("alice")
    await post(http, alice, UPLOAD, CrossSigningSet(alice.user_id).upload_body())
    new = CrossSigningSet(alice.user_id)
    challenge = await post(http, alice, UPLOAD, new.upload_body(), status=401)
    assert {"stages": ["m.login.password"]} in challenge["flows"]
    wrong = {
        **new.upload_body(),
        "auth": {
            "type": "m.login.password",
            "session": challenge["session"],
            "identifier": {"type": "m.id.user", "user": alice.user_id},
            "password": "wrong",
        },
    }
    await post(http, alice, UPLOAD, wrong, status=401)
    right = copy.deepcopy(wrong)
    right["auth"]["password"] = alice.password
    await post(http, alice, UPLOAD, right)
    assert (await query(http, alice, alice.user_id))["master_keys"][alice.user_id] == new.key_json("master")


async def test_subkeys_must_be_signed_by_the_master_key(http, make_user):
    alice = await make_user("alice")
    keys = CrossSigningSet(alice.user_id)
    body = keys.upload_body()
    body["self_signing_key"] = CrossSigningSet(alice.user_id).key_json("self_signing")
    result = await post(http, alice, UPLOAD, body, status=400)
    assert result["errcode"] == "M_INVALID_SIGNATURE"


async def test_subkeys_without_any_master_key(http, make_user):
    alice = await make_user("alice")
    keys = CrossSigningSet(alice.user_id)
    result = await post(http, alice, UPLOAD, {"self_signing_key": keys.key_json("self_signing")}, status=400)
    assert result["errcode"] == "M_MISSING_PARAM"


async def test_a_key_named_like_a_device_is_refused(http, make_user, homeserver):
    alice = await make_user("alice")
    keys = CrossSigningSet(alice.user_id)
    await homeserver.accounts.create_device(alice.user_id, keys.master.public)
    result = await post(http, alice, UPLOAD, keys.upload_body(), status=403)
    assert result["errcode"] == "M_FORBIDDEN"


async def test_malformed_keys_are_refused(http, make_user):
    alice = await make_user("alice")
    keys = CrossSigningSet(alice.user_id)
    wrong_user = {**keys.key_json("master"), "user_id": "@bob:veche.test"}
    assert (await post(http, alice, UPLOAD, {"master_key": wrong_user}, status=400))["errcode"] == "M_INVALID_PARAM"
    two_keys = keys.key_json("master")
    two_keys["keys"]["ed25519:other"] = "other"
    assert (await post(http, alice, UPLOAD, {"master_key": two_keys}, status=400))["errcode"] == "M_INVALID_PARAM"
    wrong_usage = {**keys.key_json("master"), "usage": ["self_signing"]}
    assert (await post(http, alice, UPLOAD, {"master_key": wrong_usage}, status=400))["errcode"] == "M_INVALID_PARAM"


async def test_signing_own_device_and_master_key(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    await upload_device_keys(http, alice, device)
    keys = CrossSigningSet(alice.user_id)
    await post(http, alice, UPLOAD, keys.upload_body())

    signed_device = keys.self_signing.sign(device.device_keys(), alice.user_id)
    signed_master = device.key.sign(keys.key_json("master"), alice.user_id)
    result = await post(
        http,
        alice,
        "/keys/signatures/upload",
        {alice.user_id: {alice.device_id: signed_device, keys.master.public: signed_master}},
    )
    assert result == {"failures": {}}

    seen = await query(http, bob, alice.user_id)
    device_sigs = seen["device_keys"][alice.user_id][alice.device_id]["signatures"][alice.user_id]
    assert device_sigs[keys.self_signing.key_id] == signed_device["signatures"][alice.user_id][keys.self_signing.key_id]
    master_sigs = seen["master_keys"][alice.user_id]["signatures"][alice.user_id]
    assert master_sigs[device.key.key_id] == signed_master["signatures"][alice.user_id][device.key.key_id]


async def test_signing_another_users_master_key_is_private(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    alice_keys = CrossSigningSet(alice.user_id)
    bob_keys = CrossSigningSet(bob.user_id)
    await post(http, alice, UPLOAD, alice_keys.upload_body())
    await post(http, bob, UPLOAD, bob_keys.upload_body())

    signed = alice_keys.user_signing.sign(bob_keys.key_json("master"), alice.user_id)
    result = await post(http, alice, "/keys/signatures/upload", {bob.user_id: {bob_keys.master.public: signed}})
    assert result == {"failures": {}}
    seen_by_alice = await query(http, alice, bob.user_id)
    assert alice_keys.user_signing.key_id in seen_by_alice["master_keys"][bob.user_id]["signatures"][alice.user_id]
    for viewer in (bob, carol):
        seen = await query(http, viewer, bob.user_id)
        assert alice.user_id not in seen["master_keys"][bob.user_id].get("signatures", {})


async def test_bad_signatures_are_reported_per_key(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    await upload_device_keys(http, alice, device)
    keys = CrossSigningSet(alice.user_id)
    await post(http, alice, UPLOAD, keys.upload_body())
    await post(http, bob, UPLOAD, CrossSigningSet(bob.user_id).upload_body())

    forged = Ed25519Key(keys.self_signing.public).sign(device.device_keys(), alice.user_id)
    changed = keys.self_signing.sign(device.device_keys("another+curve"), alice.user_id)
    result = await post(
        http,
        alice,
        "/keys/signatures/upload",
        {
            alice.user_id: {alice.device_id: forged, "NOSUCHKEY": {"keys": {}}},
            bob.user_id: {"not-bobs-master": {"keys": {}}},
        },
    )
    failures = result["failures"]
    assert failures[alice.user_id][alice.device_id]["errcode"] == "M_INVALID_SIGNATURE"
    assert failures[alice.user_id]["NOSUCHKEY"]["errcode"] == "M_NOT_FOUND"
    assert failures[bob.user_id]["not-bobs-master"]["errcode"] == "M_NOT_FOUND"
    result = await post(http, alice, "/keys/signatures/upload", {alice.user_id: {alice.device_id: changed}})
    assert result["failures"][alice.user_id][alice.device_id]["errcode"] == "M_INVALID_PARAM"
    seen = await query(http, bob, alice.user_id)
    assert keys.self_signing.key_id not in seen["device_keys"][alice.user_id][alice.device_id]["signatures"][
        alice.user_id
    ]
