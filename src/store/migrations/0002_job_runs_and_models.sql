-- Run history of every job, and serialized models for the db:// model store.
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch TEXT NOT NULL,
    job TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    rows_read INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    log TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS job_runs_by_batch_job ON job_runs (batch, job, started_at);
CREATE INDEX IF NOT EXISTS job_runs_by_start ON job_runs (started_at);

CREATE TABLE IF NOT EXISTS models (
    batch TEXT NOT NULL,
    metric_name TEXT NOT NULL,
    model_tag TEXT NOT NULL,
    trained_at TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (batch, metric_name, model_tag)
);
