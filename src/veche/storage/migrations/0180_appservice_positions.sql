-- How far up the event stream each application service has been sent transactions
-- (application-service-api.md, "Pushing events"): every event at or below the position
-- that interests the service has been accepted by it. A service's first start records the
-- stream's head, so it gets the events from then on, not the server's whole history.
CREATE TABLE appservice_positions (
    appservice_id TEXT PRIMARY KEY,
    stream_ordering BIGINT NOT NULL
);
