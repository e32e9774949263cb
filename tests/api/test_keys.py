"""POST /keys/upload, /keys/query and /keys/claim over HTTP, on both engines."""

from __future__ import annotations

import asyncio

from tests.api.e2ee_helpers import FakeDevice, post, sync, upload_device_keys


async def test_upload_device_keys_and_query_them(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    body = await upload_device_keys(http, alice, device)
    assert body == {"one_time_key_counts": {"signed_curve25519": 0}}

    result = await post(http, bob, "/keys/query", {"device_keys": {alice.user_id: []}})
    keys = result["device_keys"][alice.user_id][alice.device_id]
    assert keys["keys"] == device.device_keys()["keys"]
    assert keys["signatures"] == device.device_keys()["signatures"]
    assert result["failures"] == {}

    named = await post(http, bob, "/keys/query", {"device_keys": {alice.user_id: ["NOSUCH"]}})
    assert named["device_keys"] == {alice.user_id: {}}
    unknown = await post(http, bob, "/keys/query", {"device_keys": {"@nobody:veche.test": []}})
    assert unknown["device_keys"] == {"@nobody:veche.test": {}}


async def test_query_shows_the_device_display_name(http, make_user, homeserver):
    alice = await make_user("alice")
    await homeserver.devices.rename(alice.user_id, alice.device_id, "Alice's phone")
    await upload_device_keys(http, alice, FakeDevice(alice.user_id, alice.device_id))
    result = await post(http, alice, "/keys/query", {"device_keys": {alice.user_id: []}})
    assert result["device_keys"][alice.user_id][alice.device_id]["unsigned"] == {
        "device_display_name": "Alice's phone"
    }


async def test_remote_users_are_reported_as_failures(http, make_user):
    alice = await make_user("alice")
    result = await post(http, alice, "/keys/query", {"device_keys": {"@carol:elsewhere.example": []}})
    assert "elsewhere.example" in result["failures"]
    assert result["device_keys"] == {}
    claimed = await post(
        http, alice, "/keys/claim", {"one_time_keys": {"@carol:elsewhere.example": {"DEV": "signed_curve25519"}}}
    )
    assert "elsewhere.example" in claimed["failures"]


async def test_device_keys_must_be_signed_by_the_device(http, make_user):
    alice = await make_user("alice")
    device = FakeDevice(alice.user_id, alice.device_id)
    keys = device.device_keys()
    keys["algorithms"].append("m.tampered")
    body = await post(http, alice, "/keys/upload", {"device_keys": keys}, status=400)
    assert body["errcode"] == "M_INVALID_SIGNATURE"

    unsigned = device.device_keys()
    unsigned["signatures"] = {}
    body = await post(http, alice, "/keys/upload", {"device_keys": unsigned}, status=400)
    assert body["errcode"] == "M_INVALID_SIGNATURE"


async def test_device_keys_must_name_the_logged_in_device(http, make_user):
    alice = await make_user("alice")
    body = await post(
        http, alice, "/keys/upload", {"device_keys": FakeDevice(alice.user_id, "OTHER").device_keys()}, status=400
    )
    assert body["errcode"] == "M_BAD_JSON"
    body = await post(
        http, alice, "/keys/upload", {"device_keys": FakeDevice("@bob:veche.test", alice.device_id).device_keys()},
        status=400,
    )
    assert body["errcode"] == "M_BAD_JSON"


async def test_a_device_cannot_change_its_identity_keys(http, make_user):
    alice = await make_user("alice")
    device = FakeDevice(alice.user_id, alice.device_id)
    await upload_device_keys(http, alice, device)
    # The same keys again are fine (a retried request).
    await upload_device_keys(http, alice, device)
    changed = await post(http, alice, "/keys/upload", {"device_keys": device.device_keys("other+curve")}, status=400)
    assert changed["errcode"] == "M_INVALID_PARAM"
    replaced = FakeDevice(alice.user_id, alice.device_id)
    body = await post(http, alice, "/keys/upload", {"device_keys": replaced.device_keys()}, status=400)
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_one_time_keys_are_counted_and_claimed_once(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    body = await post(
        http, alice, "/keys/upload", {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(3)}
    )
    assert body["one_time_key_counts"] == {"signed_curve25519": 3}
    # Re-uploading the same keys neither duplicates nor fails.
    body = await post(http, alice, "/keys/upload", {"one_time_keys": device.one_time_keys(3)})
    assert body["one_time_key_counts"] == {"signed_curve25519": 3}

    wanted = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}
    seen = set()
    for _ in range(3):
        claimed = await post(http, bob, "/keys/claim", wanted)
        ((key_id, key),) = claimed["one_time_keys"][alice.user_id][alice.device_id].items()
        assert key == device.one_time_keys(3)[key_id]
        seen.add(key_id)
    assert len(seen) == 3
    assert (await post(http, bob, "/keys/claim", wanted))["one_time_keys"] == {}
    assert (await sync(http, alice))["device_one_time_keys_count"] == {"signed_curve25519": 0}


async def test_a_one_time_key_id_cannot_be_reused_with_another_key(http, make_user):
    alice = await make_user("alice")
    device = FakeDevice(alice.user_id, alice.device_id)
    await post(http, alice, "/keys/upload", {"one_time_keys": device.one_time_keys(1)})
    other = FakeDevice(alice.user_id, alice.device_id).one_time_keys(1)
    body = await post(http, alice, "/keys/upload", {"one_time_keys": other}, status=400)
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_one_time_keys_are_handed_out_in_upload_order(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    await post(http, alice, "/keys/upload", {"one_time_keys": device.one_time_keys(1, prefix="ZZZ")})
    await post(http, alice, "/keys/upload", {"one_time_keys": device.one_time_keys(1, prefix="AAA")})
    wanted = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}
    first = await post(http, bob, "/keys/claim", wanted)
    assert list(first["one_time_keys"][alice.user_id][alice.device_id]) == ["signed_curve25519:ZZZ0"]


async def test_fallback_key_is_used_when_one_time_keys_run_out(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    fallback = device.one_time_keys(1, prefix="FB", fallback=True)
    await post(
        http, alice, "/keys/upload", {"one_time_keys": device.one_time_keys(1), "fallback_keys": fallback}
    )
    assert (await sync(http, alice))["device_unused_fallback_key_types"] == ["signed_curve25519"]
    wanted = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}
    first = await post(http, bob, "/keys/claim", wanted)
    assert list(first["one_time_keys"][alice.user_id][alice.device_id]) == ["signed_curve25519:AAAA0"]
    for _ in range(2):
        again = await post(http, bob, "/keys/claim", wanted)
        assert again["one_time_keys"][alice.user_id][alice.device_id] == fallback
    assert (await sync(http, alice))["device_unused_fallback_key_types"] == []
    # A new fallback key is unused again.
    await post(http, alice, "/keys/upload", {"fallback_keys": device.one_time_keys(1, prefix="FB2", fallback=True)})
    assert (await sync(http, alice))["device_unused_fallback_key_types"] == ["signed_curve25519"]


async def test_only_one_fallback_key_per_algorithm(http, make_user):
    alice = await make_user("alice")
    device = FakeDevice(alice.user_id, alice.device_id)
    keys = {**device.one_time_keys(1, prefix="A", fallback=True), **device.one_time_keys(1, prefix="B", fallback=True)}
    body = await post(http, alice, "/keys/upload", {"fallback_keys": keys}, status=400)
    assert body["errcode"] == "M_INVALID_PARAM"


async def test_concurrent_claims_never_share_a_key(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    fallback = device.one_time_keys(1, prefix="FB", fallback=True)
    await post(
        http, alice, "/keys/upload", {"one_time_keys": device.one_time_keys(10), "fallback_keys": fallback}
    )
    wanted = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}
    results = await asyncio.gather(*(post(http, bob, "/keys/claim", wanted) for _ in range(20)))
    key_ids = [next(iter(r["one_time_keys"][alice.user_id][alice.device_id])) for r in results]
    one_time = [k for k in key_ids if not k.startswith("signed_curve25519:FB")]
    assert len(one_time) == 10 and len(set(one_time)) == 10
    assert key_ids.count("signed_curve25519:FB0") == 10


async def test_malformed_requests_are_refused(http, make_user):
    alice = await make_user("alice")
    assert (await post(http, alice, "/keys/query", {}, status=400))["errcode"] == "M_INVALID_PARAM"
    assert (await post(http, alice, "/keys/query", {"device_keys": {alice.user_id: "x"}}, status=400))[
        "errcode"
    ] == "M_INVALID_PARAM"
    assert (await post(http, alice, "/keys/query", {"device_keys": {"not-a-user": []}}, status=400))[
        "errcode"
    ] == "M_INVALID_PARAM"
    assert (await post(http, alice, "/keys/claim", {}, status=400))["errcode"] == "M_INVALID_PARAM"
    assert (await post(http, alice, "/keys/upload", {"one_time_keys": {"nocolon": {}}}, status=400))[
        "errcode"
    ] == "M_BAD_JSON"
    async with http.post("/_matrix/client/v3/keys/upload", json={}) as response:
        assert response.status == 401


async def test_logging_out_deletes_the_device_keys(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    device = FakeDevice(alice.user_id, alice.device_id)
    await post(http, alice, "/keys/upload", {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(2)})
    await post(http, alice, "/logout", {})
    result = await post(http, bob, "/keys/query", {"device_keys": {alice.user_id: []}})
    assert result["device_keys"][alice.user_id] == {}
    claimed = await post(
        http, bob, "/keys/claim", {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}
    )
    assert claimed["one_time_keys"] == {}
