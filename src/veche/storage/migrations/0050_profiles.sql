-- Profiles of local users: every field (displayname, avatar_url, m.tz, custom keys) as one
-- JSON object, since the spec bounds a whole profile (64 KiB) and clients read it whole.
CREATE TABLE profiles (
    user_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL
);
