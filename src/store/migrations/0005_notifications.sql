-- Every message an alert produced, per channel: sent, failed (with why) or silenced, so the
-- admin panel and /metrics can show what reached people and what did not.
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    run_id INTEGER,
    batch TEXT NOT NULL,
    metric TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS notifications_by_time ON notifications (created_at);
