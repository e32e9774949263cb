-- Push rules, the push actions computed for each new event and recipient, and pushers
-- (client-server-api/modules/push.md).

-- A user's own rules and their changes to server-default rules, as one JSON document
-- (protocol/push_rules.py UserRules); users without a row have the defaults.
CREATE TABLE push_rules (
    user_id TEXT PRIMARY KEY,
    rules TEXT NOT NULL
);

-- One row per (recipient, event) whose matching rule says "notify". Unread counts are the
-- rows after the user's read position; /notifications lists them newest first.
CREATE TABLE event_push_actions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    -- 'main' or the thread root's event ID (push.md "Marking notifications as read").
    thread_id TEXT NOT NULL,
    highlight BOOLEAN NOT NULL,
    actions TEXT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_ordering)
) {{WITHOUT_ROWID}};
CREATE INDEX event_push_actions_user_stream ON event_push_actions (user_id, stream_ordering);

-- Sending an event counts as reading up to it (push.md "Marking notifications as read"):
-- the latest own event of each (room, user, thread).
CREATE TABLE push_sent_marks (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    stream_ordering BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, thread_id)
) {{WITHOUT_ROWID}};

CREATE TABLE pushers (
    pusher_id {{ID_PK}},
    user_id TEXT NOT NULL,
    -- The device whose access token set the pusher (NULL if unknown).
    device_id TEXT,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT,
    lang TEXT NOT NULL,
    data TEXT NOT NULL,
    -- Seconds since the epoch when the pushkey was last set (push_notifier.yaml pushkey_ts).
    pushkey_ts BIGINT NOT NULL,
    UNIQUE (app_id, pushkey, user_id)
);
CREATE INDEX pushers_user ON pushers (user_id);
