-- Incidents: alerts of one batch (or sharing a metric tag across batches) raised within
-- `incident_window_minutes` of each other, told once and followed on one thread.
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The batch of the alert that opened it (its routes carry the incident's messages).
    batch TEXT NOT NULL,
    -- The first message's subject: email updates answer it ("Re: ...") so clients thread them.
    title TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open',
    opened_at TEXT NOT NULL,
    -- When an alert last opened or joined it: the window is counted from here.
    last_alert_at TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at TEXT,
    resolved_by TEXT,
    -- The Message-ID of the first email, made when the incident opens.
    email_message_id TEXT NOT NULL,
    -- JSON object: Slack channel id -> the ts of the thread's first message.
    slack_threads TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS incidents_state ON incidents (state, last_alert_at);

-- Each metric and kind of alert in an incident.
CREATE TABLE IF NOT EXISTS incident_members (
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    batch TEXT NOT NULL,
    metric TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- The metric's tags (JSON object) when it joined: what groups across batches.
    tags TEXT NOT NULL DEFAULT '{}',
    -- The flagged point's time (data time) of its first and newest alert.
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    alerts INTEGER NOT NULL DEFAULT 1,
    joined_at TEXT NOT NULL,
    last_alert_at TEXT NOT NULL,
    -- `notice`: back to normal when its "back to normal" notice comes; `quiet`: when no new
    -- alert came for the window.
    recovery TEXT NOT NULL,
    normal_at TEXT,
    PRIMARY KEY (incident_id, batch, metric, kind)
);
CREATE INDEX IF NOT EXISTS incident_members_metric ON incident_members (batch, metric);

-- What happened to an incident, oldest first: opened, joined, again, normal, acknowledged,
-- resolved.
CREATE TABLE IF NOT EXISTS incident_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    batch TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS incident_events_incident ON incident_events (incident_id, id);
