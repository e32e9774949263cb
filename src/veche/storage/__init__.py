"""Storage: one async database interface over SQLite and PostgreSQL, and the stores.

Opening
    `db = await open_database(target)` (veche.storage.database): `target` is a
    `postgresql://` DSN (extra query parameters such as `search_path=…` become server
    settings) or a SQLite file path; migrations are applied on open. SQLite runs in WAL mode
    with `synchronous=FULL` by default (`open_database(path, synchronous="NORMAL")` trades
    the last commits before a power cut for speed).

Interface (both engines; rows are plain tuples)
    async with db.transaction() as txn:          # commit on exit, rollback on exception
        await txn.execute(sql, *args) -> int      # rows changed
        await txn.executemany(sql, rows)
        await txn.execute_all([(sql, args), …])   # answerless writes, one hop where possible
        await txn.fetchall / fetchone / fetchval(sql, *args)
    await db.fetchall / fetchone / fetchval(sql, *args)   # autocommit reads
    await db.execute(sql, *args)                 # one statement in its own transaction
    db.engine                                    # "sqlite" | "postgres"

    SQL uses `?` placeholders; `col = ANY(?)` takes a Python list (batch lookups in one
    statement). Constraint violations raise `veche.storage.database.IntegrityError` on both
    engines. SQLite serialises write transactions on one writer thread; reads outside a
    transaction run on reader threads and see the last commit.

Migrations
    `storage/migrations/NNNN_name.sql`, each applied in one transaction with its
    `schema_migrations` row; macros (`{{ID_PK}}`, `{{INT64_PK}}`, `{{BYTES}}`,
    `{{WITHOUT_ROWID}}`) cover the dialect differences (see veche.storage.migrate). A
    database newer than the code is refused.

Event schema (migrations/0001_events.sql)
    Identifiers are interned to integers ("nids"): `event_ids` (every event ID seen,
    including prev/auth references to events not held), `user_ids`, `rooms` (with the room
    version and the snapshot current_state holds), `state_keys` ((type, state_key) pairs).
    `events` holds the hot columns (room, stream_ordering — NULL for outliers — depth,
    origin_server_ts, sender, type, state key, rejected reason, soft-failed, outlier) indexed
    by (room, stream) for sync and (room, depth, stream) for /messages (also over visible
    events alone, migration 0160, so PostgreSQL pages in index order without statistics);
    `event_json` holds the event as received, as bytes, once. `event_edges`, `event_auth`
    and `forward_extremities` hold the graph.
    State: `state_snapshots` are immutable, named by a SHA-256 of their sorted
    (state_key_nid, event_nid) pairs so a state is stored once, each a packed delta against
    a parent with chains of at most 32 (then a full copy). `event_state` maps each
    non-outlier event to the snapshot of the state after it; events that change no state
    reuse their predecessor's, so storage grows with state changes, not events × state.
    `current_state` (room, state key → event) and `room_memberships` (room, user →
    membership, event, stream position) answer "current state", "rooms of a user" and
    "members of a room" with one indexed query each.

Event stores (`stores = await create_event_stores(db)`: .events, .state, .rooms, .stream)
    events.persist_event(event, *, state_before, outlier=False, soft_failed=False,
        advance_current_state=False) -> PersistedEvent(event_id, stream_ordering, snapshot_nid)
        One transaction: the event, its JSON and edges, forward extremities, the state-after
        snapshot (state_before — a snapshot nid, or a (type, state_key) → event ID map, `{}`
        for a create event — plus the event if it is accepted state), and, when asked, the
        room's current state and memberships.
    events.get_events(ids) -> {id: Event}; get_event; get_events_in_order; have_events;
        get_event_meta; get_forward_extremities(room); get_auth_chain_ids(ids) /
        get_auth_chain(ids); get_current_state(room, types) -> {key: Event};
        get_current_state_event(room, type, state_key)
    events.get_recent_room_events(room, from_stream, to_stream, limit) -> RecentEvents(events,
        limited, prev_batch); get_rooms_with_events(rooms, from, to);
        paginate_room_events(room, from_token, "b"|"f", limit, to_token) -> EventPage(events,
        next_token); get_topological_token_at_stream(room, stream); current_stream_token
    state.get_current_state_ids(room, types); get_snapshot_after(event_id);
        get_snapshots_after(ids); get_state_ids_after(event_id); get_snapshot_state_ids(nid)
    rooms.get_room_version(room); get_memberships_for_user(user, memberships);
        get_rooms_for_user(user, membership="join"); get_members(room, memberships);
        get_joined_members(room)

Stream positions
    `StreamIdGenerator` (veche.storage.stream) hands out positions before a write and
    reports `current_token`: the highest position with every lower one finished, so a reader
    never skips a write that commits late. Each stream starts after its table's maximum.

Caches
    Events by ID, snapshots by nid and interned ids are immutable and cached in LRUs; they
    are filled only after the transaction that created them commits. The current state per
    room is cached and invalidated when a write to that room commits
    (`StateStore.invalidate_current_state`, the hook a multi-process set-up would call).
"""
