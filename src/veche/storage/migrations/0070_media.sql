-- The media repository (client-server-api/modules/content_repo.md). File bytes live on disk
-- named by their SHA-256, so identical uploads share one file; these rows are the metadata.

-- One row per mxc URI: local uploads (origin = this server) and, later, cached remote media.
CREATE TABLE media (
    origin TEXT NOT NULL,
    media_id TEXT NOT NULL,
    -- The uploader of local media; NULL for remote media.
    user_id TEXT,
    content_type TEXT,
    upload_name TEXT,
    size BIGINT,
    -- Hex SHA-256 of the content; NULL while an asynchronous upload (/create) is pending.
    sha256 TEXT,
    created_ts BIGINT NOT NULL,
    uploaded_ts BIGINT,
    -- When a pending /create ID lapses if nothing was uploaded to it.
    unused_expires_ts BIGINT,
    -- Last download or thumbnail, coarse (updated at most hourly); drives retention.
    last_access_ts BIGINT NOT NULL,
    -- What a probe of the file found when it is a thumbnailable image; NULL otherwise.
    image_type TEXT,
    image_width INTEGER,
    image_height INTEGER,
    image_animated BOOLEAN,
    PRIMARY KEY (origin, media_id)
);
CREATE INDEX media_sha256 ON media (sha256);
CREATE INDEX media_pending ON media (user_id, unused_expires_ts) WHERE sha256 IS NULL;
CREATE INDEX media_last_access ON media (last_access_ts);

-- When the legacy unauthenticated download endpoints were frozen: media created from then
-- on is served only by the authenticated ones (content_repo.md, "Client behaviour").
CREATE TABLE media_freeze (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    frozen_ts BIGINT NOT NULL
);

-- URL previews, cached per URL (the Open Graph object returned to clients, as JSON).
CREATE TABLE url_previews (
    url TEXT PRIMARY KEY,
    fetched_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL,
    og TEXT NOT NULL
);
CREATE INDEX url_previews_expires ON url_previews (expires_ts);
