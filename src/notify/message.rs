//! An alert as a message: title, description, tags, recent points or a table, and its text and
//! HTML bodies. The same message goes to every channel; each channel picks what it can show.

use std::collections::BTreeMap;

use maud::{Markup, html};

use chrono::NaiveDateTime;

use super::Table;
use super::notice::{Event, Notice};
use crate::charts::ascii::sparkline;
use crate::charts::palette::{hex, kind_rgb};
use crate::charts::{kind_label, number};
use crate::store::{ChartPoint, MetricType};

/// Metrics named in the summary's sentence; the table has them all.
const BUSIEST_SHOWN: usize = 10;
/// Held alerts listed in the summary; the anomaly lists mark every one.
const HELD_SHOWN: usize = 20;

/// `YYYY-MM-DD HH:MM`, as the original's alert titles show times.
fn title_time(ts: NaiveDateTime) -> String {
    ts.format("%Y-%m-%d %H:%M").to_string()
}

/// Every notice's words: the subject of its email and the heading of its Slack or webhook
/// message, and the sentence under it (the original's wording, with the figures).
impl Notice {
    pub fn title(&self) -> String {
        let metric = &self.metric;
        match &self.event {
            Event::Anomaly { at, .. } => {
                format!("🔥 [{metric}] looks anomalous ({}) 🔥", title_time(*at))
            }
            Event::Resolved { at, .. } => {
                format!("✅ [{metric}] is back to normal ({}) ✅", title_time(*at))
            }
            Event::Change { at, .. } => {
                format!("Δ [{metric}] looks changed ({}) Δ", title_time(*at))
            }
            Event::Llm { findings } => format!(
                "🤖 LLM says [{metric}] looks anomalous ({}) 🤖",
                findings
                    .first()
                    .map(|f| title_time(f.0))
                    .unwrap_or_default()
            ),
            Event::Threshold { at, upper, .. } => format!(
                "⚠️ [{metric}] threshold {} bound breached ({}) ⚠️",
                bound_name(*upper),
                title_time(*at)
            ),
            Event::Stale { last_seen, .. } => format!(
                "⏳ [{metric}] has no new data since {} ⏳",
                title_time(*last_seen)
            ),
            Event::NoRows { at } => {
                format!("⏳ ingest returned no rows ({}) ⏳", title_time(*at))
            }
            Event::Fresh { at, .. } if metric.is_empty() => {
                format!("✅ ingest returns rows again ({}) ✅", title_time(*at))
            }
            Event::Fresh { at, .. } => {
                format!("✅ [{metric}] has new data again ({}) ✅", title_time(*at))
            }
            Event::IncidentResolved { incident, at, .. } => format!(
                "✅ [incident #{incident}] every metric is back to normal ({}) ✅",
                title_time(*at)
            ),
            Event::Summary { .. } => "Anomstack Summary".to_owned(),
        }
    }

    pub fn description(&self) -> String {
        match &self.event {
            Event::Anomaly {
                value,
                score,
                threshold,
                ..
            } => format!(
                "value {} with smoothed anomaly score {score:.3} (threshold {threshold})",
                value.map_or("?".to_owned(), |v| v.to_string()),
            ),
            Event::Resolved {
                alerted_at,
                points,
                threshold,
                ..
            } => format!(
                "{points} scored point(s) below the threshold {threshold} since the alert at {}",
                title_time(*alerted_at)
            ),
            Event::Change {
                value,
                z,
                threshold,
                ..
            } => format!(
                "value {value} has a modified z-score of {z:.2} against the window before it (threshold {threshold})"
            ),
            Event::Llm { findings } => findings
                .iter()
                .map(|(t, why)| format!("- {}: {why}", crate::timestamp::format_db(*t)))
                .collect::<Vec<_>>()
                .join("\n"),
            Event::Threshold {
                value,
                upper,
                bound,
                ..
            } => format!(
                "value {value} is {} the {} bound {bound}",
                if *upper { "above" } else { "below" },
                bound_name(*upper)
            ),
            Event::Stale {
                interval_seconds,
                missing,
                ..
            } => format!(
                "nothing arrived for {missing} of its usual intervals ({}); it is stale",
                interval_text(*interval_seconds)
            ),
            Event::NoRows { .. } => {
                "the batch's ingest returned no rows, where it usually returns some".to_owned()
            }
            Event::Fresh { stale_since, .. } => format!(
                "data is arriving again after being stale since {}",
                title_time(*stale_since)
            ),
            Event::IncidentResolved {
                opened_at, metrics, ..
            } => format!(
                "{} back to normal; the incident opened at {} UTC",
                metrics.join(", "),
                title_time(*opened_at)
            ),
            Event::Summary { busiest, held, .. } => {
                let mut lines = Vec::new();
                if busiest.is_empty() {
                    lines.push("No alerts over the period.".to_owned());
                } else {
                    lines.push("Most anomalous over the period:".to_owned());
                    for (n, batch, metric) in busiest.iter().take(BUSIEST_SHOWN) {
                        lines.push(format!("  {batch}/{metric}: {n} alert(s)"));
                    }
                }
                if !held.is_empty() {
                    lines.push(format!(
                        "Held back by alert budgets ({}, not sent at the time):",
                        held.len()
                    ));
                    for (batch, metric, at) in held.iter().take(HELD_SHOWN) {
                        lines.push(format!("  {batch}/{metric} at {} UTC", title_time(*at)));
                    }
                    if held.len() > HELD_SHOWN {
                        lines.push(format!(
                            "  … and {} more (the anomaly lists mark them all)",
                            held.len() - HELD_SHOWN
                        ));
                    }
                }
                lines.join("\n")
            }
        }
    }
}

/// An interval in the largest unit that divides it: `5 min`, `1 h`, `1 d`, `90 s`.
fn interval_text(seconds: i64) -> String {
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn bound_name(upper: bool) -> &'static str {
    if upper { "upper" } else { "lower" }
}

/// Points shown as a text sparkline.
const SPARK_WIDTH: usize = 60;

#[derive(Debug, Clone)]
pub struct Message {
    /// `anomaly`, `change`, `llm`, `threshold`, `summary`, `failure`, ...
    pub kind: String,
    pub batch: String,
    /// Empty for messages about no one metric (summary, failures).
    pub metric: String,
    pub title: String,
    pub description: String,
    /// `metric_batch`, `metric_name`, `alert_type` and the metric's `metric_tags`.
    pub tags: BTreeMap<String, String>,
    /// The metric's recent points, oldest first (empty when there is no chart).
    pub points: Vec<ChartPoint>,
    /// The threshold line on the score panel.
    pub threshold: Option<f64>,
    /// What the lower panel's series is (anomaly score, change score).
    pub score_label: String,
    /// Tabular content (the daily summary).
    pub table: Option<Table>,
    /// Links that record a verdict on the alert without a login.
    pub feedback: Option<FeedbackLinks>,
    /// The incident this message tells of, opens or updates.
    pub incident: Option<IncidentInfo>,
}

/// What a message says of its incident, and how channels thread it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentInfo {
    pub id: i64,
    /// Whether this is the incident's first message (others answer it).
    pub opens: bool,
    /// The first message's subject, which email updates answer.
    pub subject: String,
    /// Every metric of the incident so far, in the order they joined.
    pub metrics: Vec<String>,
    /// Other metrics this message tells of besides its own.
    pub with: Vec<String>,
    /// The incident's page, when the app has a public address.
    pub page: Option<String>,
    /// Signed links that acknowledge and resolve it (first message only).
    pub acknowledge: Option<String>,
    pub resolve: Option<String>,
    /// The first email's Message-ID.
    pub email_message_id: String,
    /// Slack channel id → the thread's first message there.
    pub slack_threads: BTreeMap<String, String>,
}

impl IncidentInfo {
    /// The lines the text bodies add: what else is in it, where to follow it.
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.with.is_empty() {
            out.push(format!("Also in this message: {}.", self.with.join(", ")));
        }
        out.push(format!(
            "Incident #{}: {}.",
            self.id,
            self.metrics.join(", ")
        ));
        if let Some(page) = &self.page {
            out.push(format!("Follow it: {page}"));
        }
        out
    }
}

/// The two signed links of an alert (see `crate::feedback_link`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackLinks {
    pub useful: String,
    pub not_useful: String,
}

impl Message {
    /// The attachment's file name.
    pub fn chart_name(&self) -> String {
        let safe: String = self
            .metric
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        format!(
            "{}.png",
            if safe.is_empty() {
                "chart".to_owned()
            } else {
                safe
            }
        )
    }

    fn sparklines(&self) -> Option<(String, String)> {
        if self.points.is_empty() {
            return None;
        }
        let values: Vec<Option<f64>> = self.points.iter().map(|p| p.value).collect();
        let scores: Vec<Option<f64>> = self.points.iter().map(|p| p.score).collect();
        Some((
            sparkline(&values, SPARK_WIDTH),
            sparkline(&scores, SPARK_WIDTH),
        ))
    }

    fn latest(&self) -> Option<&ChartPoint> {
        self.points.iter().rev().find(|p| p.value.is_some())
    }

    /// The plain-text body.
    pub fn text(&self) -> String {
        let mut out = vec![self.title.clone(), String::new()];
        if !self.description.is_empty() {
            out.push(self.description.clone());
            out.push(String::new());
        }
        if let Some(table) = &self.table {
            out.push(aligned(table));
            out.push(String::new());
        }
        if let Some((values, scores)) = self.sparklines() {
            out.push(format!("value {values}"));
            out.push(format!("score {scores}"));
            if let Some(p) = self.latest() {
                out.push(format!(
                    "latest {} at {} UTC",
                    p.value.map(number).unwrap_or_default(),
                    p.timestamp.format("%Y-%m-%d %H:%M")
                ));
            }
            out.push(String::new());
        }
        if let Some(incident) = &self.incident {
            out.extend(incident.lines());
            if let Some(link) = &incident.acknowledge {
                out.push(format!("Acknowledge: {link}"));
            }
            if let Some(link) = &incident.resolve {
                out.push(format!("Resolve: {link}"));
            }
            out.push(String::new());
        }
        if let Some(links) = &self.feedback {
            out.push(format!("Useful? {}", links.useful));
            out.push(format!("Not useful? {}", links.not_useful));
            out.push(String::new());
        }
        for (k, v) in &self.tags {
            out.push(format!("{k}: {v}"));
        }
        out.join("\n")
    }

    /// The kind of anomaly the message is about, if it is about one.
    fn anomaly_kind(&self) -> Option<MetricType> {
        match self.kind.as_str() {
            "anomaly" => Some(MetricType::Alert),
            "threshold" => Some(MetricType::TholdAlert),
            "change" => Some(MetricType::Change),
            "llm" => Some(MetricType::LlmAlert),
            _ => None,
        }
    }

    /// The HTML body; `image_cid` shows the chart inline.
    pub fn html(&self, image_cid: Option<&str>) -> Markup {
        let spark = self.sparklines();
        html! {
            div style="font-family: system-ui, sans-serif; color: #1b1f24" {
                @if let Some(kind) = self.anomaly_kind() {
                    // The kind's colour, as on the dashboard.
                    p style={ "margin: 0; display: inline-block; padding: 2px 10px; border-radius: 999px; color: #fff; font-size: 12px; background: " (hex(kind_rgb(kind))) } {
                        (kind_label(kind))
                    }
                }
                h2 style="font-size: 18px" { (self.title) }
                @if !self.description.is_empty() {
                    pre style="background: #f5f6f8; padding: 8px; white-space: pre-wrap" { code { (self.description) } }
                }
                @if let Some(table) = &self.table {
                    (html_table(table))
                }
                @if let Some(cid) = image_cid {
                    img src={ "cid:" (cid) } alt={ "chart of " (self.metric) } width="720" style="max-width: 100%";
                }
                @if let Some((values, scores)) = &spark {
                    pre style="font-size: 13px; line-height: 1.1" { "value " (values) "\n" "score " (scores) }
                }
                @if let Some(incident) = &self.incident {
                    div style="margin: 12px 0; padding: 8px 12px; border-left: 4px solid #cf222e; background: #fff5f5; font-size: 14px" {
                        @for line in incident.lines() {
                            p style="margin: 4px 0" { (line) }
                        }
                        @if let Some(link) = &incident.acknowledge {
                            a href=(link) style="display: inline-block; padding: 4px 12px; margin-right: 6px; border: 1px solid #9a6700; border-radius: 6px; color: #9a6700; text-decoration: none" { "Acknowledge" }
                        }
                        @if let Some(link) = &incident.resolve {
                            a href=(link) style="display: inline-block; padding: 4px 12px; border: 1px solid #1a7f37; border-radius: 6px; color: #1a7f37; text-decoration: none" { "Resolve" }
                        }
                    }
                }
                @if let Some(links) = &self.feedback {
                    p style="margin: 12px 0; font-size: 14px" {
                        "Was this alert useful? "
                        a href=(links.useful) style="display: inline-block; padding: 4px 12px; margin-right: 6px; border: 1px solid #1a7f37; border-radius: 6px; color: #1a7f37; text-decoration: none" { "👍 Useful" }
                        a href=(links.not_useful) style="display: inline-block; padding: 4px 12px; border: 1px solid #cf222e; border-radius: 6px; color: #cf222e; text-decoration: none" { "👎 Not useful" }
                    }
                }
                @if !self.tags.is_empty() {
                    table style="border-collapse: collapse; font-size: 13px" {
                        @for (k, v) in &self.tags {
                            tr { th style="text-align: left; padding: 2px 8px 2px 0; color: #5b6270" { (k) } td { (v) } }
                        }
                    }
                }
            }
        }
    }
}

/// Cells that read as numbers, which tables align right.
fn numeric(cell: &str) -> bool {
    !cell.is_empty() && cell.parse::<f64>().is_ok()
}

/// Which columns hold numbers (and are aligned right).
fn numeric_columns(table: &Table) -> Vec<bool> {
    (0..table.columns.len())
        .map(|i| {
            !table.rows.is_empty()
                && table
                    .rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .all(|c| c.is_empty() || numeric(c))
        })
        .collect()
}

/// A table as fixed-width text, for plain-text bodies and Slack's code blocks.
pub fn aligned(table: &Table) -> String {
    let mut widths: Vec<usize> = table.columns.iter().map(|c| c.chars().count()).collect();
    for row in &table.rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let right = numeric_columns(table);
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .zip(&right)
            .map(|((cell, width), right)| {
                if *right {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    std::iter::once(line(&table.columns))
        .chain(table.rows.iter().map(|r| line(r)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table with inline styles, which mail clients keep (they drop style sheets).
fn html_table(table: &Table) -> Markup {
    let right = numeric_columns(table);
    let style = |i: usize| {
        let align = if right.get(i).copied().unwrap_or(false) {
            "right"
        } else {
            "left"
        };
        format!("padding: 4px 10px; border-bottom: 1px solid #e3e6ea; text-align: {align}")
    };
    html! {
        table style="border-collapse: collapse; font-size: 13px; margin: 8px 0" {
            thead {
                tr {
                    @for (i, column) in table.columns.iter().enumerate() {
                        th style={ (style(i)) "; background: #f5f6f8; color: #5b6270" } { (column) }
                    }
                }
            }
            tbody {
                @for row in &table.rows {
                    tr {
                        @for (i, value) in row.iter().enumerate() {
                            td style=(style(i)) { (value) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn notices_are_worded_from_their_facts() {
        let at = NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(12, 5, 0)
            .unwrap();
        let anomaly = Notice {
            metric: "orders".into(),
            event: Event::Anomaly {
                at,
                value: Some(42.5),
                score: 0.98765,
                threshold: 0.8,
            },
        };
        assert_eq!(anomaly.kind(), "anomaly");
        assert_eq!(
            anomaly.title(),
            "🔥 [orders] looks anomalous (2026-03-01 12:05) 🔥"
        );
        assert_eq!(
            anomaly.description(),
            "value 42.5 with smoothed anomaly score 0.988 (threshold 0.8)"
        );
        let low = Notice {
            metric: "orders".into(),
            event: Event::Threshold {
                at,
                value: -3.0,
                upper: false,
                bound: 0.0,
            },
        };
        assert_eq!(low.description(), "value -3 is below the lower bound 0");
        let quiet = Notice {
            metric: String::new(),
            event: Event::Summary {
                busiest: Vec::new(),
                table: Table::default(),
                held: Vec::new(),
            },
        };
        assert_eq!(quiet.description(), "No alerts over the period.");
        assert!(quiet.table().is_some());
        let held = Notice {
            metric: String::new(),
            event: Event::Summary {
                busiest: vec![(3, "shop".into(), "orders".into())],
                table: Table::default(),
                held: vec![("shop".into(), "orders".into(), at)],
            },
        };
        assert_eq!(
            held.description(),
            "Most anomalous over the period:\n  shop/orders: 3 alert(s)\nHeld back by alert budgets (1, not sent at the time):\n  shop/orders at 2026-03-01 12:05 UTC"
        );
    }

    fn message() -> Message {
        let t = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        Message {
            kind: "anomaly".into(),
            batch: "b".into(),
            metric: "cpu <load>/x".into(),
            title: "🔥 [cpu] looks anomalous (2026-01-01 00:00) 🔥".into(),
            description: "value 9 with score <b>0.9</b>".into(),
            tags: [("priority".to_owned(), "p1".to_owned())].into(),
            points: (0..5)
                .map(|i| ChartPoint {
                    timestamp: t + chrono::Duration::minutes(i),
                    value: Some(i as f64),
                    score: Some(0.1 * i as f64),
                    alert: i == 4,
                    llmalert: None,
                    change: false,
                    tholdalert: None,
                    feedback: None,
                })
                .collect(),
            threshold: Some(0.8),
            score_label: "anomaly score".into(),
            table: None,
            feedback: None,
            incident: None,
        }
    }

    #[test]
    fn bodies_carry_title_description_sparklines_and_tags_escaped() {
        let m = message();
        let text = m.text();
        assert!(text.starts_with("🔥 [cpu]"));
        assert!(text.contains("value ▁▃▅▆█"), "{text}");
        assert!(text.contains("priority: p1"));
        assert!(text.contains("latest 4 at 2026-01-01 00:04 UTC"), "{text}");
        let html = m.html(Some("chart1")).into_string();
        assert!(html.contains("cid:chart1"));
        assert!(
            html.contains("&lt;b&gt;0.9&lt;/b&gt;"),
            "descriptions are escaped"
        );
        assert_eq!(m.chart_name(), "cpu__load__x.png");
        assert!(!text.contains("Useful?") && !html.contains("Useful"));
        let mut linked = m.clone();
        linked.feedback = Some(FeedbackLinks {
            useful: "https://a.example.com/feedback/u.1".into(),
            not_useful: "https://a.example.com/feedback/d.2".into(),
        });
        let text = linked.text();
        assert!(
            text.contains("Useful? https://a.example.com/feedback/u.1\nNot useful? https://a.example.com/feedback/d.2"),
            "{text}"
        );
        let html = linked.html(None).into_string();
        assert!(
            html.contains("href=\"https://a.example.com/feedback/d.2\""),
            "{html}"
        );
    }

    #[test]
    fn tables_align_in_text_and_are_real_tables_in_html() {
        let mut m = message();
        m.points.clear();
        m.table = Some(Table {
            columns: vec!["batch".into(), "metric".into(), "alerts".into()],
            rows: vec![
                vec!["shop".into(), "orders <eu>".into(), "12".into()],
                vec!["shop".into(), "refunds".into(), "3".into()],
            ],
        });
        let text = m.text();
        assert!(
            text.contains(
                "batch  metric       alerts\nshop   orders <eu>      12\nshop   refunds           3"
            ),
            "{text}"
        );
        let html = m.html(None).into_string();
        assert!(html.contains(">batch</th>"), "{html}");
        assert!(
            html.contains(">orders &lt;eu&gt;</td>"),
            "cells are escaped: {html}"
        );
        assert!(html.contains("text-align: right\">12</td>"), "{html}");
    }
}
