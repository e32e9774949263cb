-- Media a server admin has quarantined (Synapse's admin API): kept, but never served.
-- The admin's user ID; NULL for media that is not quarantined.
ALTER TABLE media ADD COLUMN quarantined_by TEXT;
