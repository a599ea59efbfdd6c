//! The tools the server offers: names, descriptions an assistant reads to pick one, and input
//! JSON schemas, written by hand with serde_json (no schema derive needed). Write tools are
//! marked so the handler lists and runs them only for callers allowed to write.

use std::sync::Arc;

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Value, json};

/// One tool of the catalog.
pub struct ToolSpec {
    pub name: &'static str,
    /// Changes data: needs a write-scoped token (or `anomstack mcp --write`).
    pub writes: bool,
    pub description: &'static str,
    schema: fn() -> Value,
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn time(what: &str) -> Value {
    json!({"type": "string", "description": format!("{what}: ISO-8601 UTC (2026-05-01T12:00:00Z) or a span back from now (45m, 24h, 7d)")})
}

pub static TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "list_batches",
        writes: false,
        description: "List the metric batches: how many metrics each has, anomalies in the last 24 h, metrics anomalous now, the alert threshold, job schedules (cron), alert channels and metric tags. Start here.",
        schema: || object(json!({}), &[]),
    },
    ToolSpec {
        name: "list_metrics",
        writes: false,
        description: "List the metrics of one batch with their newest value and score, when they last alerted (and which kind), points and anomalies in the last 24 h, and tags.",
        schema: || {
            object(
                json!({"batch": {"type": "string", "description": "batch name (from list_batches)"}}),
                &["batch"],
            )
        },
    },
    ToolSpec {
        name: "read_series",
        writes: false,
        description: "Read one metric's points, oldest first: value, anomaly score (0-1) and flags (alert, change, threshold_alert, llm_alert, feedback). The newest `last_n` (default 100, at most 5000), or the points between `since` and `until`.",
        schema: || {
            object(
                json!({
                    "batch": {"type": "string"},
                    "metric": {"type": "string"},
                    "last_n": {"type": "integer", "minimum": 1, "maximum": 5000, "description": "newest N points (default 100); not with since"},
                    "since": time("first time to include"),
                    "until": time("last time to include (default now)"),
                }),
                &["batch", "metric"],
            )
        },
    },
    ToolSpec {
        name: "list_anomalies",
        writes: false,
        description: "List anomalies (flagged points of any kind: ml = the model's alert, change, threshold, llm), newest first, with the value and any feedback people gave (useful / not_useful).",
        schema: || {
            object(
                json!({
                    "batch": {"type": "string", "description": "one batch (default: all)"},
                    "since": time("oldest time to include (default 24h)"),
                    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "description": "at most this many (default 50)"},
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "explain_anomaly",
        writes: false,
        description: "Explain one anomaly of a metric (default: its newest): the value against the expected value (absolute, relative and robust z), the score against the alert threshold, when the episode started and how long it lasted or whether it is still open, which other metrics moved at the same time (same batch, and metrics sharing a tag in other batches), and past feedback on this metric.",
        schema: || {
            object(
                json!({
                    "batch": {"type": "string"},
                    "metric": {"type": "string"},
                    "at": time("the anomaly's time (default: the metric's newest anomaly)"),
                }),
                &["batch", "metric"],
            )
        },
    },
    ToolSpec {
        name: "backtest_metric",
        writes: false,
        description: "Would it have fired? Replays the metric's stored scores through its alert rule, optionally with changed settings, and lists the times it would have alerted next to the times it actually alerted. Use it to judge a threshold or smoothing change before proposing it.",
        schema: || {
            object(
                json!({
                    "batch": {"type": "string"},
                    "metric": {"type": "string"},
                    "overrides": {"type": "object", "additionalProperties": false, "description": "alert settings to try instead of the batch's",
                        "properties": {
                            "alert_threshold": {"type": "number", "minimum": 0, "maximum": 1},
                            "alert_smooth_n": {"type": "integer", "minimum": 0},
                            "alert_snooze_n": {"type": "integer", "minimum": 0},
                            "alert_resolve_n": {"type": "integer", "minimum": 0},
                            "alert_direction": {"type": "string", "enum": ["up", "down", "both"]},
                            "alert_min_abs_change": {"type": "number", "minimum": 0},
                            "alert_min_rel_change": {"type": "number", "minimum": 0},
                        }},
                    "since": time("replay from this time (default: the newest 5000 points)"),
                }),
                &["batch", "metric"],
            )
        },
    },
    ToolSpec {
        name: "give_feedback",
        writes: true,
        description: "Record whether an anomaly was useful (a real problem) or not_useful (a false alarm), or clear a verdict. Later alerts of the metric learn from it. Needs a write-scoped token.",
        schema: || {
            object(
                json!({
                    "batch": {"type": "string"},
                    "metric": {"type": "string"},
                    "at": time("the anomaly's time, as list_anomalies gives it"),
                    "verdict": {"type": "string", "enum": ["useful", "not_useful", "clear"]},
                }),
                &["batch", "metric", "at", "verdict"],
            )
        },
    },
    ToolSpec {
        name: "add_silence",
        writes: true,
        description: "Silence alerts for a while: those of a batch, a metric (name or glob with *), or a tag (key=value); at least one matcher. Give `duration` (30m, 4h, 1d, 1w; at most a year) or `ends_at`. Needs a write-scoped token.",
        schema: || {
            object(
                json!({
                    "batch": {"type": "string"},
                    "metric": {"type": "string", "description": "name or glob with *"},
                    "tag": {"type": "string", "description": "key=value"},
                    "duration": {"type": "string", "description": "30m, 4h, 1d, 1w"},
                    "ends_at": time("when the silence ends (instead of duration)"),
                    "comment": {"type": "string", "maxLength": 500},
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "list_incidents",
        writes: false,
        description: "List incidents (alerts of one batch, or of metrics sharing a tag, raised close together, grouped into one), open and acknowledged ones first: state, who acknowledged or resolved it and when, and each metric with its kind of alert, when it was first and last flagged and whether it is back to normal.",
        schema: || {
            object(
                json!({
                    "state": {"type": "string", "enum": ["active", "open", "acknowledged", "resolved", "all"], "description": "default active (open or acknowledged)"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 200, "description": "at most this many (default 20)"},
                }),
                &[],
            )
        },
    },
    ToolSpec {
        name: "acknowledge_incident",
        writes: true,
        description: "Acknowledge an open incident: someone is on it (recorded with who and when; its thread still gets updates). Needs a write-scoped token.",
        schema: || {
            object(
                json!({"incident": {"type": "integer", "description": "incident id (from list_incidents)"}}),
                &["incident"],
            )
        },
    },
    ToolSpec {
        name: "resolve_incident",
        writes: true,
        description: "Resolve an incident (recorded with who and when); later alerts open a new one. Needs a write-scoped token.",
        schema: || {
            object(
                json!({"incident": {"type": "integer", "description": "incident id (from list_incidents)"}}),
                &["incident"],
            )
        },
    },
];

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The tools a caller sees: every read tool, and the write tools when it may write.
pub fn listed(can_write: bool) -> Vec<Tool> {
    TOOLS
        .iter()
        .filter(|t| can_write || !t.writes)
        .map(|t| {
            let schema = match (t.schema)() {
                Value::Object(o) => o,
                _ => serde_json::Map::new(),
            };
            Tool::new(t.name, t.description, Arc::new(schema)).annotate(
                ToolAnnotations::new()
                    .read_only(!t.writes)
                    .destructive(false),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_an_object_and_read_callers_see_no_write_tool() {
        for t in TOOLS {
            assert_eq!((t.schema)()["type"], "object", "{}", t.name);
        }
        let read: Vec<String> = listed(false).iter().map(|t| t.name.to_string()).collect();
        assert!(read.contains(&"explain_anomaly".to_owned()));
        assert!(
            !read
                .iter()
                .any(|n| n == "give_feedback" || n == "add_silence")
        );
        assert_eq!(listed(true).len(), TOOLS.len());
    }
}
