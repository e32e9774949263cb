"""The room purge's SQL: every table naming a room or its events is purged or kept on
purpose, and a purge leaves no row of the room behind, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.userdata_helpers import call, create_room, q, send_text
from veche.storage.room_purge import KEPT, PURGED, RoomPurgeStore
from veche.storage.stores import create_event_stores
from veche.storage.stream import StreamIdGenerator

ROOM_COLUMNS = {"room_id", "room_nid", "event_nid", "event_id", "redaction_nid"}


async def _columns(db) -> dict[str, set[str]]:
    if db.engine == "sqlite":
        tables = await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'event_search_fts%'"
        )
        found = {}
        for (table,) in tables:
            found[table] = {r[1] for r in await db.fetchall(f"SELECT * FROM pragma_table_info('{table}')")}
        return found
    rows = await db.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
    )
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


async def test_every_table_naming_a_room_is_purged_or_kept(homeserver):
    columns = await _columns(homeserver.db)
    naming = {t for t, cols in columns.items() if cols & ROOM_COLUMNS}
    assert naming - set(PURGED) - set(KEPT) == set()
    assert set(PURGED) & set(KEPT) == set()


async def test_purge_leaves_no_row_of_the_room(http, make_user, homeserver):
    alice = await make_user("alice")
    kept = await create_room(http, alice, room_alias_name="kept")
    doomed = await create_room(http, alice, room_alias_name="doomed")
    for room_id in (kept, doomed):
        for i in range(3):
            event_id = await send_text(http, alice, room_id, f"hello {i}")
        assert (await call(http, "POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(event_id)}", alice, {}))[0] == 200
        assert (await call(http, "PUT", f"/user/{q(alice.user_id)}/rooms/{q(room_id)}/tags/u.work", alice, {}))[0] == 200
    db = homeserver.db
    search = {"search_categories": {"room_events": {"search_term": "hello"}}}
    assert (await call(http, "POST", "/search", alice, search))[0] == 200
    before = await _counts(db, kept)
    streams = [("events", "stream_ordering"), ("receipts", "stream_id"), ("account_data", "stream_id")]
    positions = [await db.fetchval(f"SELECT MAX({column}) FROM {table}") for table, column in streams]
    await RoomPurgeStore(db).purge(doomed)
    # The newest positions were the purged room's, yet a restarted server hands out none of
    # them again.
    for (table, column), position in zip(streams, positions, strict=True):
        assert await db.fetchval(f"SELECT MAX({column}) FROM {table}") < position
        assert (await StreamIdGenerator.from_database(db, table, column)).current_token == position
    assert (await create_event_stores(db)).events.current_stream_token == positions[0]
    assert await _counts(db, doomed) == {t: 0 for t in before}
    assert await _counts(db, kept) == before
    await RoomPurgeStore(db).purge(doomed)


async def _counts(db, room_id: str) -> dict[str, int]:
    nid = await db.fetchval("SELECT room_nid FROM rooms WHERE room_id = ?", room_id)
    events = "(SELECT event_nid FROM events WHERE room_nid = ?)"
    counts = {
        "rooms": await db.fetchval(
            "SELECT COUNT(*) FROM rooms WHERE room_id = ? AND current_snapshot_nid IS NOT NULL", room_id
        ),
        "events": await db.fetchval("SELECT COUNT(*) FROM events WHERE room_nid = ?", nid),
        "account_data": await db.fetchval("SELECT COUNT(*) FROM account_data WHERE room_id = ?", room_id),
        "room_aliases": await db.fetchval("SELECT COUNT(*) FROM room_aliases WHERE room_id = ?", room_id),
    }
    for table in ("event_json", "event_edges", "event_auth", "event_state"):
        counts[table] = await db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE event_nid IN {events}", nid)
    for table in ("current_state", "room_memberships", "forward_extremities", "state_snapshots", "event_search"):
        counts[table] = await db.fetchval(f"SELECT COUNT(*) FROM {table} WHERE room_nid = ?", nid)
    if db.engine == "sqlite":
        # The full-text index forgets what event_search no longer holds.
        counts["event_search_fts orphans"] = await db.fetchval(
            "SELECT COUNT(*) FROM event_search_fts WHERE event_search_fts MATCH 'hello'"
            " AND rowid NOT IN (SELECT event_nid FROM event_search)"
        )
    return counts
