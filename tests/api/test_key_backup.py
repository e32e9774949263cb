"""Server-side key backups over HTTP (key_backup.yaml): versions, keys at all three
levels, the replacement rules, counts and etags, and wrong versions, on both engines."""

from __future__ import annotations

from tests.api.e2ee_helpers import request

ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:veche.test"


def key(first_message_index=0, forwarded_count=0, is_verified=False, data="a"):
    return {
        "first_message_index": first_message_index,
        "forwarded_count": forwarded_count,
        "is_verified": is_verified,
        "session_data": {"ciphertext": data},
    }


async def new_version(http, user, public_key="pk"):
    body = {"algorithm": ALGORITHM, "auth_data": {"public_key": public_key}}
    return (await request(http, "POST", user, "/room_keys/version", body))["version"]


async def test_versions_are_created_read_updated_and_deleted(http, make_user):
    alice = await make_user("alice")
    assert (await request(http, "GET", alice, "/room_keys/version", status=404))["errcode"] == "M_NOT_FOUND"
    first = await new_version(http, alice)
    second = await new_version(http, alice, "pk2")
    assert first != second
    current = await request(http, "GET", alice, "/room_keys/version")
    assert current == {
        "algorithm": ALGORITHM,
        "auth_data": {"public_key": "pk2"},
        "count": 0,
        "etag": current["etag"],
        "version": second,
    }
    assert (await request(http, "GET", alice, f"/room_keys/version/{first}"))["version"] == first

    update = {"algorithm": ALGORITHM, "auth_data": {"public_key": "pk2", "signatures": {}}, "version": second}
    assert await request(http, "PUT", alice, f"/room_keys/version/{second}", update) == {}
    assert (await request(http, "GET", alice, "/room_keys/version"))["auth_data"] == update["auth_data"]

    await request(http, "DELETE", alice, f"/room_keys/version/{second}")
    # Deleting it again succeeds; the previous version is current again.
    await request(http, "DELETE", alice, f"/room_keys/version/{second}")
    assert (await request(http, "GET", alice, "/room_keys/version"))["version"] == first
    await request(http, "GET", alice, f"/room_keys/version/{second}", status=404)
    await request(http, "DELETE", alice, "/room_keys/version/99", status=404)
    # A deleted version's number is never reused.
    assert await new_version(http, alice) not in (first, second)


async def test_updates_must_keep_algorithm_and_version(http, make_user):
    alice = await make_user("alice")
    version = await new_version(http, alice)
    other = {"algorithm": "m.other", "auth_data": {}}
    assert (await request(http, "PUT", alice, f"/room_keys/version/{version}", other, 400))["errcode"] == "M_INVALID_PARAM"
    mismatch = {"algorithm": ALGORITHM, "auth_data": {}, "version": "77"}
    await request(http, "PUT", alice, f"/room_keys/version/{version}", mismatch, 400)
    await request(http, "PUT", alice, "/room_keys/version/77", {"algorithm": ALGORITHM, "auth_data": {}}, 404)
    missing = await request(http, "POST", alice, "/room_keys/version", {"auth_data": {}}, 400)
    assert missing["errcode"] == "M_MISSING_PARAM"


async def test_backups_are_per_user(http, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    version = await new_version(http, alice)
    await request(http, "GET", bob, f"/room_keys/version/{version}", status=404)
    await request(http, "GET", bob, "/room_keys/version", status=404)


async def test_keys_at_every_level(http, make_user):
    alice = await make_user("alice")
    version = await new_version(http, alice)
    one = await request(http, "PUT", alice, f"/room_keys/keys/{ROOM}/s1", key(), version=version)
    assert one["count"] == 1
    room = await request(
        http, "PUT", alice, f"/room_keys/keys/{ROOM}", {"sessions": {"s2": key(data="b")}}, version=version
    )
    assert room["count"] == 2 and room["etag"] != one["etag"]
    everything = await request(
        http,
        "PUT",
        alice,
        "/room_keys/keys",
        {"rooms": {"!other:veche.test": {"sessions": {"s3": key(data="c")}}}},
        version=version,
    )
    assert everything["count"] == 3
    info = await request(http, "GET", alice, "/room_keys/version")
    assert (info["count"], info["etag"]) == (3, everything["etag"])

    assert await request(http, "GET", alice, f"/room_keys/keys/{ROOM}/s1", version=version) == key()
    assert await request(http, "GET", alice, f"/room_keys/keys/{ROOM}", version=version) == {
        "sessions": {"s1": key(), "s2": key(data="b")}
    }
    assert await request(http, "GET", alice, "/room_keys/keys/!none:veche.test", version=version) == {"sessions": {}}
    all_keys = await request(http, "GET", alice, "/room_keys/keys", version=version)
    assert set(all_keys["rooms"]) == {ROOM, "!other:veche.test"}
    await request(http, "GET", alice, f"/room_keys/keys/{ROOM}/nope", status=404, version=version)

    deleted = await request(http, "DELETE", alice, f"/room_keys/keys/{ROOM}/s1", version=version)
    assert deleted["count"] == 2
    deleted = await request(http, "DELETE", alice, f"/room_keys/keys/{ROOM}", version=version)
    assert deleted["count"] == 1
    deleted = await request(http, "DELETE", alice, "/room_keys/keys", version=version)
    assert deleted["count"] == 0
    assert await request(http, "GET", alice, "/room_keys/keys", version=version) == {"rooms": {}}


async def test_the_better_key_is_kept(http, make_user):
    alice = await make_user("alice")
    version = await new_version(http, alice)
    path = f"/room_keys/keys/{ROOM}/s1"
    await request(http, "PUT", alice, path, key(first_message_index=5, forwarded_count=2), version=version)

    async def stored():
        return await request(http, "GET", alice, path, version=version)

    # A higher first index loses; a lower one wins.
    await request(http, "PUT", alice, path, key(first_message_index=6, data="worse"), version=version)
    assert (await stored())["first_message_index"] == 5
    await request(http, "PUT", alice, path, key(first_message_index=3, forwarded_count=4), version=version)
    assert (await stored())["first_message_index"] == 3
    # Same index: the lower forwarded count wins.
    await request(http, "PUT", alice, path, key(first_message_index=3, forwarded_count=1), version=version)
    assert (await stored())["forwarded_count"] == 1
    # A verified key beats any unverified one, and is not replaced by an unverified one.
    await request(http, "PUT", alice, path, key(first_message_index=9, forwarded_count=9, is_verified=True), version=version)
    assert (await stored())["is_verified"] is True
    unchanged = await request(http, "PUT", alice, path, key(first_message_index=0), version=version)
    assert (await stored())["is_verified"] is True
    assert unchanged["count"] == 1


async def test_writes_need_the_current_version(http, make_user):
    alice = await make_user("alice")
    await request(http, "PUT", alice, f"/room_keys/keys/{ROOM}/s1", key(), 404, version="1")
    old = await new_version(http, alice)
    current = await new_version(http, alice)
    body = await request(http, "PUT", alice, f"/room_keys/keys/{ROOM}/s1", key(), 403, version=old)
    assert body == {"errcode": "M_WRONG_ROOM_KEYS_VERSION", "error": body["error"], "current_version": current}
    await request(http, "GET", alice, "/room_keys/keys", status=404, version="99")
    await request(http, "DELETE", alice, "/room_keys/keys", status=404, version="99")
    missing = await request(http, "GET", alice, "/room_keys/keys", status=400)
    assert missing["errcode"] == "M_MISSING_PARAM"


async def test_malformed_key_data_is_refused(http, make_user):
    alice = await make_user("alice")
    version = await new_version(http, alice)
    bad = {**key(), "is_verified": "yes"}
    body = await request(http, "PUT", alice, f"/room_keys/keys/{ROOM}/s1", bad, 400, version=version)
    assert body["errcode"] == "M_BAD_JSON"
    await request(http, "PUT", alice, f"/room_keys/keys/{ROOM}", {"sessions": []}, 400, version=version)
    await request(http, "PUT", alice, "/room_keys/keys", {"rooms": {ROOM: []}}, 400, version=version)
