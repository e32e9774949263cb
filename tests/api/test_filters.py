"""Filters over HTTP: upload, download, validation, ownership."""

from __future__ import annotations

from tests.api.userdata_helpers import call, q

FILTER = {
    "room": {"timeline": {"limit": 10, "types": ["m.room.message"]}, "state": {"lazy_load_members": True}},
    "presence": {"not_types": ["*"]},
    "event_fields": ["type", "content"],
}


async def test_upload_and_download(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    status, body = await call(http, "POST", f"/user/{q(alice.user_id)}/filter", alice, FILTER)
    assert status == 200
    filter_id = body["filter_id"]
    assert isinstance(filter_id, str) and not filter_id.startswith("{")
    assert await call(http, "GET", f"/user/{q(alice.user_id)}/filter/{filter_id}", alice) == (200, FILTER)
    service = homeserver.user_data.filters
    assert await service.get_filter(alice.user_id, filter_id) == FILTER
    parsed = await service.get_parsed_filter(alice.user_id, filter_id)
    assert parsed is not None and parsed.room.timeline.limit == 10
    status, second = await call(http, "POST", f"/user/{q(alice.user_id)}/filter", alice, {})
    assert status == 200 and second["filter_id"] != filter_id


async def test_unknown_filters(http, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    _, body = await call(http, "POST", f"/user/{q(bob.user_id)}/filter", bob, FILTER)
    for filter_id in ("999999", "abc", "{}", "-1"):
        status, error = await call(http, "GET", f"/user/{q(alice.user_id)}/filter/{q(filter_id)}", alice)
        assert (status, error["errcode"]) == (404, "M_NOT_FOUND"), filter_id
    # Bob's filter is not Alice's, even under her own user ID.
    status, error = await call(http, "GET", f"/user/{q(alice.user_id)}/filter/{body['filter_id']}", alice)
    assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    status, error = await call(http, "GET", f"/user/{q(bob.user_id)}/filter/{body['filter_id']}", alice)
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")


async def test_invalid_filters(http, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    path = f"/user/{q(alice.user_id)}/filter"
    for bad in (
        {"room": {"timeline": {"limit": "ten"}}},
        {"room": []},
        {"event_format": "xml"},
        {"presence": {"senders": "@bob:veche.test"}},
    ):
        status, error = await call(http, "POST", path, alice, bad)
        assert (status, error["errcode"]) == (400, "M_BAD_JSON"), bad
        assert error["error"]
    status, error = await call(http, "POST", path, alice, data=b"nope")
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")
    status, error = await call(http, "POST", path, bob, FILTER)
    assert (status, error["errcode"]) == (403, "M_FORBIDDEN")
