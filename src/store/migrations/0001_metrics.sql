-- The long metrics table: the public contract users query with their own tools (same six
-- columns and metric_type values as the original Anomstack). Unlike the original, one row per
-- (batch, type, metric, timestamp), so every job is an idempotent upsert. The primary key
-- order serves the hot read "last N points of every metric of a batch, by type".
CREATE TABLE IF NOT EXISTS metrics (
    metric_timestamp TEXT NOT NULL,
    metric_batch TEXT NOT NULL,
    metric_name TEXT NOT NULL,
    metric_type TEXT NOT NULL,
    metric_value REAL NOT NULL,
    metadata TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (metric_batch, metric_type, metric_name, metric_timestamp)
) WITHOUT ROWID;
