-- Filters uploaded with POST /user/{userId}/filter; immutable once stored.

CREATE TABLE filters (
    filter_nid {{ID_PK}},
    user_id TEXT NOT NULL,
    -- UTF-8 JSON of the definition exactly as uploaded.
    definition TEXT NOT NULL
);
CREATE INDEX filters_user ON filters (user_id);
