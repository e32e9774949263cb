-- The user directory's search index: one row per searchable user with the words a search
-- term may start. `search_text` is " word1 word2 … " in case-folded form, so that a
-- prefix-of-word match is `LIKE '% term%'` on both engines. Who may see whom is not stored
-- here: searches work it out from the current membership tables.
CREATE TABLE user_directory (
    user_id TEXT PRIMARY KEY,
    display_name TEXT,
    avatar_url TEXT,
    search_text TEXT NOT NULL
);
