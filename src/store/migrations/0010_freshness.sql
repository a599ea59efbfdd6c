-- Freshness: per metric of a batch ("" for the batch's ingest itself), whether it is stale and
-- since when. One row each, changed only by a compare-and-set, so checks running at once on
-- several machines (or an ingest and an alert run) tell each change once.
CREATE TABLE IF NOT EXISTS freshness (
    batch TEXT NOT NULL,
    metric TEXT NOT NULL,
    stale INTEGER NOT NULL,
    changed_at TEXT NOT NULL,
    last_seen TEXT,
    interval_seconds INTEGER,
    PRIMARY KEY (batch, metric)
);
