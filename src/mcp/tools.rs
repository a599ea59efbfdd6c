//! The read tools' bodies: plain async functions over the store and the configuration that
//! return JSON for an assistant, so they are tested without the protocol. They read through
//! the same store readers as the pages and the JSON API; answers are compact (no nulls, no
//! false flags) and every time is ISO-8601 UTC.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ToolError;
use super::args::{iso, parse_time, round4};
use crate::config::{Batch, BatchJob, Config};
use crate::store::{
    ANOMALY_KINDS, ChartPoint, Feedback, MAX_WINDOW_POINTS, MetricType, Store, Window, WindowQuery,
};

/// The batch named `name`, or a bad input that lists the batches there are.
pub fn find_batch<'a>(config: &'a Config, name: &str) -> Result<&'a Batch, ToolError> {
    config.batch(name).ok_or_else(|| {
        let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
        ToolError::BadInput(format!(
            "`batch`: no batch named `{name}` (batches: {})",
            names.join(", ")
        ))
    })
}

/// How a person's verdict is spelled in answers.
pub fn verdict_name(f: Feedback) -> &'static str {
    match f {
        Feedback::Up => "useful",
        Feedback::Down => "not_useful",
    }
}

/// `list_batches`: every batch with its metrics, anomalies of the last 24 h, schedules,
/// alert channels and tags.
/// The batch's metric figures over the last 24 hours, as the home page counts them.
async fn last_day(
    store: &Store,
    batch: &Batch,
    now: NaiveDateTime,
) -> Result<Vec<crate::store::MetricStats>, ToolError> {
    let spec = &batch.spec;
    Ok(store
        .dashboard_stats(
            &spec.table_key,
            batch.name(),
            Window::Hours(24),
            spec.dashboard_stale_metric_max_days_ago,
            now,
        )
        .await?)
}

pub async fn list_batches(
    store: &Store,
    config: &Config,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let mut out = Vec::new();
    for batch in &config.batches {
        let spec = &batch.spec;
        let stats = last_day(store, batch, now).await?;
        let mut schedules = Map::new();
        for job in BatchJob::ALL {
            let s = spec.schedule(job);
            if s.disabled {
                continue;
            }
            let state = match s.default_status {
                crate::config::ScheduleStatus::Running => "",
                crate::config::ScheduleStatus::Stopped => " (stopped)",
            };
            schedules.insert(
                job.as_str().to_owned(),
                json!(format!("{}{state}", s.cron.as_str())),
            );
        }
        let mut entry = json!({
            "name": batch.name(),
            "metrics": stats.len(),
            "metric_names": stats.iter().take(50).map(|s| s.name.as_str()).collect::<Vec<_>>(),
            "latest": stats.iter().map(|s| s.latest).max().map(iso),
            "anomalies_24h": stats.iter().map(|s| s.anomalies).sum::<u32>(),
            "anomalous_now": stats.iter().filter(|s| s.anomalous_now).count(),
            "stale": stats.iter().filter(|s| s.stale).count(),
            "alert_threshold": spec.alert_threshold,
            "alert_methods": spec.alert_methods.0.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "schedules": schedules,
        });
        if !spec.metric_tags.is_empty() {
            entry["tags"] = json!(spec.metric_tags);
        }
        if spec.disable_dashboard {
            entry["hidden_from_dashboard"] = json!(true);
        }
        out.push(entry);
    }
    Ok(json!({ "batches": out }))
}

#[derive(Debug, Deserialize)]
pub struct BatchArgs {
    pub batch: String,
}

/// The newest row of `kind` of each metric of a batch: (time, value) by metric.
async fn newest_of(
    store: &Store,
    batch: &Batch,
    kind: MetricType,
) -> Result<BTreeMap<String, (NaiveDateTime, f64)>, ToolError> {
    let rows = store
        .metric_window(&WindowQuery {
            table: &batch.spec.table_key,
            batch: batch.name(),
            metric_type: kind,
            max_n: 1,
            since: None,
            until: None,
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.name, (r.timestamp, r.value)))
        .collect())
}

/// `list_metrics`: a batch's metrics with their newest value and score, when they last
/// alerted (any kind), and their figures over the last 24 h.
pub async fn list_metrics(
    store: &Store,
    config: &Config,
    args: BatchArgs,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let batch = find_batch(config, &args.batch)?;
    let spec = &batch.spec;
    let stats = last_day(store, batch, now).await?;
    let values = newest_of(store, batch, MetricType::Metric).await?;
    let scores = newest_of(store, batch, MetricType::Score).await?;
    let mut last_alert: BTreeMap<String, (NaiveDateTime, &str)> = BTreeMap::new();
    for kind in ANOMALY_KINDS {
        for (metric, (at, v)) in newest_of(store, batch, kind).await? {
            if v > 0.0 && last_alert.get(&metric).is_none_or(|(t, _)| *t < at) {
                last_alert.insert(metric, (at, kind.as_str()));
            }
        }
    }
    let metrics: Vec<Value> = stats
        .iter()
        .map(|s| {
            let mut m = json!({
                "name": s.name,
                "latest": iso(s.latest),
                "points_24h": s.points,
                "anomalies_24h": s.anomalies,
            });
            if let Some((at, v)) = values.get(&s.name) {
                m["value"] = json!(v);
                m["value_at"] = json!(iso(*at));
            }
            if let Some((_, score)) = scores.get(&s.name) {
                m["score"] = json!(round4(*score));
            }
            if let Some((at, kind)) = last_alert.get(&s.name) {
                m["last_alert"] = json!(iso(*at));
                m["last_alert_kind"] = json!(kind);
            }
            if s.anomalous_now {
                m["anomalous_now"] = json!(true);
            }
            if s.stale {
                m["stale"] = json!(true);
            }
            if let Some(tags) = spec.metric_tags.get(&s.name) {
                m["tags"] = json!(tags);
            }
            m
        })
        .collect();
    Ok(json!({
        "batch": batch.name(),
        "alert_threshold": spec.alert_threshold,
        "metrics": metrics,
    }))
}

#[derive(Debug, Deserialize)]
pub struct SeriesArgs {
    pub batch: String,
    pub metric: String,
    pub last_n: Option<usize>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// Points `read_series` returns when not told.
pub const DEFAULT_LAST_N: usize = 100;

/// One chart point as an assistant reads it: only what is there.
pub fn point_json(p: &ChartPoint) -> Value {
    let mut o = Map::new();
    o.insert("t".into(), json!(iso(p.timestamp)));
    if let Some(v) = p.value {
        o.insert("value".into(), json!(v));
    }
    if let Some(s) = p.score {
        o.insert("score".into(), json!(round4(s)));
    }
    if p.alert {
        o.insert("alert".into(), json!(true));
    }
    if p.change {
        o.insert("change".into(), json!(true));
    }
    if let Some(t) = &p.tholdalert {
        o.insert("threshold_alert".into(), json!(t));
    }
    if let Some(l) = &p.llmalert {
        o.insert("llm_alert".into(), json!(l));
    }
    if let Some(f) = p.feedback {
        o.insert("feedback".into(), json!(verdict_name(f)));
    }
    Value::Object(o)
}

/// `read_series`: one metric's points with value, score and flags, oldest first: the newest
/// `last_n`, or those between `since` and `until`; at most `MAX_WINDOW_POINTS` (the newest).
pub async fn read_series(
    store: &Store,
    config: &Config,
    args: SeriesArgs,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let batch = find_batch(config, &args.batch)?;
    let table = &batch.spec.table_key;
    let until = args
        .until
        .as_deref()
        .map(|u| parse_time("until", u, now))
        .transpose()?;
    let mut points = match (&args.since, args.last_n) {
        (Some(_), Some(_)) => {
            return Err(ToolError::BadInput(
                "give either `last_n` or `since`, not both".into(),
            ));
        }
        (Some(since), None) => {
            let since = parse_time("since", since, now)?;
            store
                .series_between(table, batch.name(), &args.metric, since, until)
                .await?
        }
        (None, n) => {
            let n = n.unwrap_or(DEFAULT_LAST_N);
            if n == 0 || n > MAX_WINDOW_POINTS {
                return Err(ToolError::BadInput(format!(
                    "`last_n`: expected 1 to {MAX_WINDOW_POINTS}, got {n}"
                )));
            }
            store
                .dashboard_series(
                    table,
                    batch.name(),
                    &args.metric,
                    Window::Last(n),
                    now,
                    until,
                )
                .await?
        }
    };
    if points.is_empty() {
        return Err(ToolError::NotFound(format!(
            "metric `{}` of batch `{}` has no points here (list_metrics names its metrics)",
            args.metric,
            batch.name()
        )));
    }
    let truncated = points.len() > MAX_WINDOW_POINTS;
    if truncated {
        points.drain(..points.len() - MAX_WINDOW_POINTS);
    }
    let mut answer = json!({
        "batch": batch.name(),
        "metric": args.metric,
        "alert_threshold": batch.spec.alert_rule_for(&args.metric).threshold,
        "count": points.len(),
        "points": points.iter().map(point_json).collect::<Vec<_>>(),
    });
    if truncated {
        answer["truncated"] = json!(format!(
            "only the newest {MAX_WINDOW_POINTS} points; narrow `since`"
        ));
    }
    Ok(answer)
}

#[derive(Debug, Deserialize)]
pub struct AnomalyArgs {
    pub batch: Option<String>,
    pub since: Option<String>,
    pub limit: Option<u32>,
}

/// Anomalies `list_anomalies` returns when not told, and at most.
pub const DEFAULT_ANOMALIES: u32 = 50;
pub const MAX_ANOMALIES: u32 = 500;

/// `list_anomalies`: flagged points (ML alerts, changes, threshold and LLM alerts) since a
/// time (24 h ago by default), newest first, of one batch or all, with their feedback.
pub async fn list_anomalies(
    store: &Store,
    config: &Config,
    args: AnomalyArgs,
    now: NaiveDateTime,
) -> Result<Value, ToolError> {
    let since = match &args.since {
        Some(raw) => parse_time("since", raw, now)?,
        None => now - Duration::hours(24),
    };
    let limit = args.limit.unwrap_or(DEFAULT_ANOMALIES);
    if limit == 0 || limit > MAX_ANOMALIES {
        return Err(ToolError::BadInput(format!(
            "`limit`: expected 1 to {MAX_ANOMALIES}, got {limit}"
        )));
    }
    let batches: Vec<&Batch> = match &args.batch {
        Some(name) => vec![find_batch(config, name)?],
        None => config.batches.iter().collect(),
    };
    let mut found = Vec::new();
    let mut more = false;
    for batch in batches {
        // Newest first: one page of `limit` holds every anomaly since `since` unless the
        // page is full and its oldest is still recent, which the answer says.
        let (items, _) = store
            .anomalies(&batch.spec.table_key, batch.name(), &[], 0, limit)
            .await?;
        more |= items.len() == limit as usize && items.last().is_some_and(|a| a.timestamp >= since);
        found.extend(
            items
                .into_iter()
                .filter(|a| a.timestamp >= since)
                .map(|a| (batch.name().to_owned(), a)),
        );
    }
    found.sort_by_key(|(_, a)| std::cmp::Reverse(a.timestamp));
    more |= found.len() > limit as usize;
    found.truncate(limit as usize);
    let items: Vec<Value> = found
        .iter()
        .map(|(batch, a)| {
            let mut o = json!({
                "batch": batch,
                "metric": a.metric,
                "at": iso(a.timestamp),
                "kinds": a.flags.iter().map(|f| kind_name(f.kind)).collect::<Vec<_>>(),
            });
            if let Some(v) = a.value {
                o["value"] = json!(v);
            }
            if let Some(f) = a.feedback {
                o["feedback"] = json!(verdict_name(f));
            }
            if a.held() {
                o["held_over_budget"] = json!(true);
            }
            for f in &a.flags {
                if !f.metadata.is_empty() && f.kind != MetricType::Alert {
                    o[format!("{}_detail", kind_name(f.kind))] = json!(f.metadata);
                }
            }
            o
        })
        .collect();
    let mut answer = json!({
        "since": iso(since),
        "count": items.len(),
        "anomalies": items,
    });
    if more {
        answer["more"] = json!("there are more; raise `limit` or narrow `since`");
    }
    Ok(answer)
}

/// An anomaly kind as answers name it.
pub fn kind_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Alert => "ml",
        MetricType::Change => "change",
        MetricType::TholdAlert => "threshold",
        MetricType::LlmAlert => "llm",
        other => other.as_str(),
    }
}
