//! What a job hands over to be sent: a [`Notice`], the facts of what happened (which metric,
//! what kind of event, when, the value, the score and the threshold it crossed). Every
//! subject and sentence made of them is written in `message.rs`. Defined here, where messages
//! are made, so `notify` depends on nothing of the jobs that raise them.

use chrono::NaiveDateTime;

/// Something a job wants people told about.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The metric it is about; empty for the summary.
    pub metric: String,
    pub event: Event,
}

/// What happened, with the figures that say so.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A point's smoothed anomaly score reached the threshold.
    Anomaly {
        at: NaiveDateTime,
        value: Option<f64>,
        score: f64,
        threshold: f64,
    },
    /// An alerted metric scored below the threshold `points` times running, up to `at`.
    Resolved {
        at: NaiveDateTime,
        alerted_at: NaiveDateTime,
        points: usize,
        threshold: f64,
    },
    /// A level shift: the value's modified z-score against the window before it.
    Change {
        at: NaiveDateTime,
        value: f64,
        z: f64,
        threshold: f64,
    },
    /// The LLM's findings, newest first: when, and its explanation.
    Llm {
        findings: Vec<(NaiveDateTime, String)>,
    },
    /// A value outside a configured bound.
    Threshold {
        at: NaiveDateTime,
        value: f64,
        upper: bool,
        bound: f64,
    },
    /// Nothing arrived for the metric since `last_seen`: `missing` of its usual intervals.
    Stale {
        last_seen: NaiveDateTime,
        interval_seconds: i64,
        missing: u64,
    },
    /// The batch's ingest at `at` returned no rows, where it usually returns some.
    NoRows { at: NaiveDateTime },
    /// Data arrived again (newest at `at`) after being stale since `stale_since`.
    Fresh {
        at: NaiveDateTime,
        stale_since: NaiveDateTime,
    },
    /// Every metric of incident `incident` is back to normal: it resolved itself.
    IncidentResolved {
        incident: i64,
        opened_at: NaiveDateTime,
        at: NaiveDateTime,
        metrics: Vec<String>,
    },
    /// The daily summary: the metrics with most alerts (count, batch, metric), and the table
    /// of every metric.
    Summary {
        busiest: Vec<(u64, String, String)>,
        table: Table,
        /// Alerts held back by alert budgets over the period: batch, metric, when.
        held: Vec<(String, String, NaiveDateTime)>,
    },
}

impl Notice {
    /// The kind's stored name: routing rules (`alert_type`), the notification log and
    /// webhooks use it.
    pub fn kind(&self) -> &'static str {
        match self.event {
            Event::Anomaly { .. } => "anomaly",
            Event::Resolved { .. } => "resolved",
            Event::Change { .. } => "change",
            Event::Llm { .. } => "llm",
            Event::Threshold { .. } => "threshold",
            Event::Stale { .. } | Event::NoRows { .. } => "stale",
            Event::Fresh { .. } => "stale_resolved",
            Event::IncidentResolved { .. } => "incident_resolved",
            Event::Summary { .. } => "summary",
        }
    }

    /// The flagged point a person can judge, for the notices about one (the LLM's newest).
    pub fn anomaly_at(&self) -> Option<NaiveDateTime> {
        match &self.event {
            Event::Anomaly { at, .. } | Event::Change { at, .. } | Event::Threshold { at, .. } => {
                Some(*at)
            }
            Event::Llm { findings } => findings.first().map(|f| f.0),
            _ => None,
        }
    }

    /// Tabular content, which each channel lays out as it can.
    pub fn table(&self) -> Option<&Table> {
        match &self.event {
            Event::Summary { table, .. } => Some(table),
            _ => None,
        }
    }
}

/// Rows of cells under named columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}
