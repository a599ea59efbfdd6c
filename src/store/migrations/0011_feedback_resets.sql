-- What an admin reset of a metric's feedback forgets: verdicts on points up to `reset_at`
-- no longer teach its alerts (they stay stored and shown). One row per metric, the newest.
CREATE TABLE IF NOT EXISTS feedback_resets (
    batch TEXT NOT NULL,
    metric TEXT NOT NULL,
    reset_at TEXT NOT NULL,
    reset_by TEXT NOT NULL,
    PRIMARY KEY (batch, metric)
);
