-- Rooms, events, the event graph and room state.
-- Hot tables key everything by small integers ("nids") interned once; strings live only in
-- the intern tables and in the event JSON.

CREATE TABLE rooms (
    room_nid {{ID_PK}},
    room_id TEXT NOT NULL UNIQUE,
    -- NULL while the room is only known by reference (e.g. from an invite).
    room_version TEXT,
    -- The snapshot that current_state holds, so an event that leaves state unchanged
    -- costs no current-state work.
    current_snapshot_nid BIGINT
);

-- Every event ID we have seen, including prev/auth references to events we do not hold.
CREATE TABLE event_ids (
    event_nid {{ID_PK}},
    event_id TEXT NOT NULL UNIQUE
);

CREATE TABLE user_ids (
    user_nid {{ID_PK}},
    user_id TEXT NOT NULL UNIQUE
);

-- (event type, state key) pairs of state events.
CREATE TABLE state_keys (
    state_key_nid {{ID_PK}},
    event_type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    UNIQUE (event_type, state_key)
);

CREATE TABLE events (
    event_nid {{INT64_PK}} REFERENCES event_ids (event_nid),
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    -- Server-wide order of persistence; NULL for outliers, which are not part of the
    -- timeline clients see.
    stream_ordering BIGINT UNIQUE,
    depth BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    sender_nid BIGINT NOT NULL REFERENCES user_ids (user_nid),
    event_type TEXT NOT NULL,
    -- NULL for non-state events.
    state_key_nid BIGINT REFERENCES state_keys (state_key_nid),
    rejected_reason TEXT,
    soft_failed BOOLEAN NOT NULL DEFAULT FALSE,
    outlier BOOLEAN NOT NULL DEFAULT FALSE
);
-- Sync: a room's events by stream position.
CREATE INDEX events_room_stream ON events (room_nid, stream_ordering);
-- /messages and backfill: topological order.
CREATE INDEX events_room_topological ON events (room_nid, depth, stream_ordering);

-- The event exactly as received or created, as UTF-8 JSON bytes, written once.
CREATE TABLE event_json (
    event_nid {{INT64_PK}} REFERENCES events (event_nid),
    json {{BYTES}} NOT NULL
);

CREATE TABLE event_edges (
    event_nid BIGINT NOT NULL REFERENCES events (event_nid),
    prev_event_nid BIGINT NOT NULL REFERENCES event_ids (event_nid),
    PRIMARY KEY (event_nid, prev_event_nid)
) {{WITHOUT_ROWID}};
CREATE INDEX event_edges_prev ON event_edges (prev_event_nid);

CREATE TABLE event_auth (
    event_nid BIGINT NOT NULL REFERENCES events (event_nid),
    auth_event_nid BIGINT NOT NULL REFERENCES event_ids (event_nid),
    PRIMARY KEY (event_nid, auth_event_nid)
) {{WITHOUT_ROWID}};

CREATE TABLE forward_extremities (
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    event_nid BIGINT NOT NULL REFERENCES events (event_nid),
    PRIMARY KEY (room_nid, event_nid)
) {{WITHOUT_ROWID}};

-- Immutable room states, named by a hash of their sorted (state_key_nid, event_nid) pairs,
-- so one state is stored once. Each is a delta against parent_nid (NULL: a full copy);
-- chain_length counts the deltas down to the nearest full copy and is kept bounded.
-- `entries` packs (state_key_nid, event_nid) as little-endian int64 pairs; in a delta an
-- event_nid of 0 removes the key.
CREATE TABLE state_snapshots (
    snapshot_nid {{ID_PK}},
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    hash {{BYTES}} NOT NULL UNIQUE,
    parent_nid BIGINT REFERENCES state_snapshots (snapshot_nid),
    chain_length INTEGER NOT NULL,
    entries {{BYTES}} NOT NULL
);

-- The state after each non-outlier event. Events that change no state share their
-- predecessor's snapshot.
CREATE TABLE event_state (
    event_nid {{INT64_PK}} REFERENCES events (event_nid),
    snapshot_nid BIGINT NOT NULL REFERENCES state_snapshots (snapshot_nid)
);

CREATE TABLE current_state (
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    state_key_nid BIGINT NOT NULL REFERENCES state_keys (state_key_nid),
    event_nid BIGINT NOT NULL REFERENCES events (event_nid),
    PRIMARY KEY (room_nid, state_key_nid)
) {{WITHOUT_ROWID}};

-- Current membership per (room, user), derived from current_state's m.room.member events.
CREATE TABLE room_memberships (
    room_nid BIGINT NOT NULL REFERENCES rooms (room_nid),
    user_nid BIGINT NOT NULL REFERENCES user_ids (user_nid),
    membership TEXT NOT NULL,
    event_nid BIGINT NOT NULL REFERENCES events (event_nid),
    -- Stream position at which this membership became current.
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (room_nid, user_nid)
) {{WITHOUT_ROWID}};
CREATE INDEX room_memberships_user ON room_memberships (user_nid, membership, room_nid);
CREATE INDEX room_memberships_room ON room_memberships (room_nid, membership, user_nid);
