-- The job queue the workers take jobs from, and the workers' heartbeats. At most one run of a
-- (batch, job) at a time, enforced by the database itself so that it holds across processes.
CREATE TABLE IF NOT EXISTS job_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch TEXT NOT NULL,
    job TEXT NOT NULL,
    trigger TEXT NOT NULL,
    run_ts TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    run_after TEXT NOT NULL,
    lock_by TEXT,
    lock_at TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS job_queue_by_status ON job_queue (status, run_after, id);
CREATE UNIQUE INDEX IF NOT EXISTS job_queue_one_running ON job_queue (batch, job) WHERE status = 'running';
-- A scheduled tick is queued once, however many schedulers share the database.
CREATE UNIQUE INDEX IF NOT EXISTS job_queue_one_tick ON job_queue (batch, job, run_ts) WHERE trigger = 'schedule';

CREATE TABLE IF NOT EXISTS queue_workers (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
