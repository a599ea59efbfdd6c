-- The admin panel's state. Session ids and API tokens are stored only as BLAKE2b digests, so a
-- copy of the database does not let anyone act as the operator.
CREATE TABLE IF NOT EXISTS admin_sessions (
    id_digest TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    -- A digest of the credentials the session was opened with: changing the password ends
    -- every session opened with the old one.
    credential TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS admin_sessions_by_expiry ON admin_sessions (expires_at);

-- An operator's choice to run or stop a job's schedule; absent means the batch's
-- `<job>_default_schedule_status`.
CREATE TABLE IF NOT EXISTS schedule_overrides (
    batch TEXT NOT NULL,
    job TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (batch, job)
);

-- Silences mute alert messages that match every non-empty matcher until `ends_at`; the alert
-- rows are still written.
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL DEFAULT '',
    tag_key TEXT NOT NULL DEFAULT '',
    tag_value TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS silences_by_end ON silences (ends_at);

CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);

-- Which queued job a run came from, so a button can follow its run to the end.
ALTER TABLE job_runs ADD COLUMN queue_id INTEGER;
CREATE INDEX IF NOT EXISTS job_runs_by_queue ON job_runs (queue_id);
