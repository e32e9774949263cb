"""Reporting events, rooms and users over HTTP."""

from __future__ import annotations

from tests.api.userdata_helpers import call, create_room, join, q, send_text


async def test_report_event(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob)
    event_id = await send_text(http, alice, room_id, "rude")
    path = f"/rooms/{q(room_id)}/report/{q(event_id)}"
    assert await call(http, "POST", path, bob, {"reason": "this makes me sad"}) == (200, {})
    # Reason is optional; a leftover score from older clients is ignored.
    assert await call(http, "POST", path, bob, {"score": -100}) == (200, {})
    for user, target in ((carol, path), (bob, f"/rooms/{q(room_id)}/report/{q('$missing')}")):
        status, error = await call(http, "POST", target, user, {"reason": "x"})
        assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    status, error = await call(http, "POST", path, bob, {"reason": 5})
    assert (status, error["errcode"]) == (400, "M_BAD_JSON")
    reports = await homeserver.user_data.reports.recent_reports()
    assert [(r.kind, r.reporter_id, r.event_id, r.reason) for r in reports] == [
        ("event", bob.user_id, event_id, None),
        ("event", bob.user_id, event_id, "this makes me sad"),
    ]


async def test_report_room(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    carol = await make_user("carol")
    room_id = await create_room(http, alice)
    # Room reports do not depend on membership.
    assert await call(http, "POST", f"/rooms/{q(room_id)}/report", carol, {"reason": ""}) == (200, {})
    status, error = await call(http, "POST", f"/rooms/{q('!nope:veche.test')}/report", carol, {"reason": "x"})
    assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    status, error = await call(http, "POST", f"/rooms/{q(room_id)}/report", carol, {})
    assert (status, error["errcode"]) == (400, "M_MISSING_PARAM")
    status, error = await call(http, "POST", f"/rooms/{q(room_id)}/report", carol, data=b"?")
    assert (status, error["errcode"]) == (400, "M_NOT_JSON")


async def test_report_user(http, homeserver, make_user) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    assert await call(http, "POST", f"/users/{q(bob.user_id)}/report", alice, {"reason": "spam"}) == (200, {})
    status, error = await call(http, "POST", f"/users/{q('@ghost:veche.test')}/report", alice, {"reason": "x"})
    assert (status, error["errcode"]) == (404, "M_NOT_FOUND")
    status, error = await call(http, "POST", f"/users/{q(bob.user_id)}/report", alice, {"reason": None})
    assert (status, error["errcode"]) == (400, "M_BAD_JSON")
    status, error = await call(http, "POST", f"/users/{q(bob.user_id)}/report", None, {"reason": "x"})
    assert (status, error["errcode"]) == (401, "M_MISSING_TOKEN")
    reports = await homeserver.user_data.reports.recent_reports()
    assert [(r.kind, r.target_user_id, r.reason) for r in reports] == [("user", bob.user_id, "spam")]
