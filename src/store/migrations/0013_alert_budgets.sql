-- The threshold each metric with an alert budget alerts at, as the alert job last calibrated
-- it from the metric's score history (shown on the metric page). One row per metric.
CREATE TABLE IF NOT EXISTS alert_budgets (
    batch TEXT NOT NULL,
    metric TEXT NOT NULL,
    budget TEXT NOT NULL,
    configured REAL NOT NULL,
    threshold REAL NOT NULL,
    calibrated_at TEXT NOT NULL,
    PRIMARY KEY (batch, metric)
);
