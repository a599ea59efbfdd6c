-- The plot job's newest picture of each batch (the original kept it in Dagster's UI): one row
-- per batch, replaced by every run.
CREATE TABLE IF NOT EXISTS plots (
    batch TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    metrics INTEGER NOT NULL,
    png BLOB NOT NULL
);
