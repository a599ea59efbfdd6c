//! Ingest: fetch the batch's rows, normalise them (numbers, UTC timestamps, rounding; bad
//! rows rejected and counted, never stored), store them in one transaction, then check
//! threshold alerts against the stored history.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde_json::json;

use super::stale;
use super::{Event, JobCtx, JobError, JobReport, Notice};
use crate::config::{Batch, ThresholdBounds};
use crate::detect::rules::{snoozed_decisions, threshold_breach};
use crate::sources::{self, RawRow, RawValue};
use crate::store::{MetricRow, MetricType, WindowQuery};
use crate::timestamp::parse_lenient;

/// A row left out, with where it was and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// 1-based position in the source's output.
    pub row: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct NormalizedIngest {
    pub rows: Vec<MetricRow>,
    pub rejected: Vec<Rejection>,
}

/// Turns raw rows into metric rows of `batch`: values must be finite numbers (rounded to
/// `rounding` places), timestamps readable (stored in UTC, whole seconds), names storable
/// (`names::problem`).
/// Metrics with threshold bounds carry them in `metadata`, as in the original.
pub fn normalize(
    batch: &str,
    raw: Vec<RawRow>,
    rounding: u32,
    thresholds: &BTreeMap<String, ThresholdBounds>,
) -> NormalizedIngest {
    let mut out = NormalizedIngest::default();
    for (i, r) in raw.into_iter().enumerate() {
        let reject = |reason: String| Rejection { row: i + 1, reason };
        let name = r.name.map(|n| n.trim().to_owned()).unwrap_or_default();
        if let Some(why) = crate::names::problem(&name) {
            out.rejected.push(reject(why));
            continue;
        }
        let Some(timestamp) = r.timestamp.as_deref().and_then(parse_lenient) else {
            out.rejected.push(reject(format!(
                "`{name}`: unreadable metric_timestamp {:?}",
                r.timestamp.unwrap_or_default()
            )));
            continue;
        };
        let value = match r.value {
            RawValue::Number(v) => Some(v),
            RawValue::Text(t) => t.trim().parse::<f64>().ok(),
            RawValue::Missing => None,
        };
        // Checked after rounding: rounding a huge value must not store an infinity.
        let Some(value) = value
            .map(|v| super::round_to(v, rounding))
            .filter(|v| v.is_finite())
        else {
            out.rejected.push(reject(format!(
                "`{name}` at {timestamp}: metric_value is not a finite number"
            )));
            continue;
        };
        let metadata = thresholds
            .get(&name)
            .map(|b| json!({"thresholds": {"upper": b.upper, "lower": b.lower}}).to_string())
            .unwrap_or_default();
        out.rows.push(MetricRow {
            timestamp,
            batch: batch.to_owned(),
            name,
            metric_type: MetricType::Metric,
            value,
            metadata,
        });
    }
    out
}

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let mut report = JobReport::default();
    let fetched = sources::fetch(
        batch,
        &ctx.store,
        &ctx.templates,
        &ctx.connectors.sources,
        ctx.run_ts,
    )
    .await?;
    report.log.extend(fetched.notes.iter().cloned());
    report
        .log
        .extend(fetched.log.iter().map(|l| format!("stderr: {l}")));
    let read = fetched.rows.len();
    // No rows from a batch that stored rows before is not a failure of the run: whether it
    // is news is the freshness check's call. A batch that never returned rows fails, so a
    // broken query is not silent.
    if read > 0 {
        report = store_rows(ctx, batch, fetched.rows, report).await?;
    } else if ctx
        .store
        .recent_ingest_rows(batch.name(), 1)
        .await?
        .is_empty()
    {
        return Err(JobError::Config {
            batch: batch.name().to_owned(),
            message: "ingest returned no rows, and no earlier ingest of this batch stored any"
                .into(),
        });
    } else {
        report.note("ingest returned no rows");
    }
    stale::check(ctx, batch, Some(read), &mut report).await;
    Ok(report)
}

/// [`normalize`] with `batch`'s rounding and thresholds.
pub fn normalize_for(batch: &Batch, rows: Vec<RawRow>) -> NormalizedIngest {
    let spec = &batch.spec;
    normalize(
        batch.name(),
        rows,
        spec.ingest_metric_rounding,
        &spec.tholdalert_thresholds,
    )
}

/// Rows pushed through the API (already normalised by the caller, which answers with the
/// rejections), stored like fetched ones.
pub async fn push(
    ctx: &JobCtx,
    batch: &Batch,
    normalized: NormalizedIngest,
) -> Result<JobReport, JobError> {
    let mut report = JobReport::default();
    let read = normalized.rows.len() + normalized.rejected.len();
    report.note(format!("{read} row(s) pushed through the API"));
    let mut report = store_normalized(ctx, batch, read, normalized, report).await?;
    stale::check(ctx, batch, None, &mut report).await;
    Ok(report)
}

/// Normalises, stores and checks thresholds for rows a source gave.
async fn store_rows(
    ctx: &JobCtx,
    batch: &Batch,
    rows: Vec<RawRow>,
    report: JobReport,
) -> Result<JobReport, JobError> {
    let read = rows.len();
    store_normalized(ctx, batch, read, normalize_for(batch, rows), report).await
}

/// Stores normalised rows (`read` raw rows gave them) and checks thresholds.
async fn store_normalized(
    ctx: &JobCtx,
    batch: &Batch,
    read: usize,
    normalized: NormalizedIngest,
    mut report: JobReport,
) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    report.rows_read = read as u64;
    if !normalized.rejected.is_empty() {
        let first: Vec<String> = normalized
            .rejected
            .iter()
            .take(5)
            .map(|r| format!("row {}: {}", r.row, r.reason))
            .collect();
        report.note(format!(
            "rejected {} of {} rows (first: {})",
            normalized.rejected.len(),
            report.rows_read,
            first.join("; ")
        ));
    }
    if normalized.rows.is_empty() {
        return Err(JobError::Config {
            batch: batch.name().to_owned(),
            message: format!(
                "ingest returned no usable rows ({} read, {} rejected)",
                report.rows_read,
                normalized.rejected.len()
            ),
        });
    }
    let written = ctx
        .store
        .upsert_metrics(&spec.table_key, &normalized.rows)
        .await?;
    report.rows_written = written.written as u64;
    report.note(format!("stored {} metric rows", written.written));

    if !spec.disable_tholdalert && !spec.tholdalert_thresholds.is_empty() {
        threshold_alerts(ctx, batch, &normalized.rows, &mut report).await?;
    }
    Ok(report)
}

/// Threshold alerts for the metrics just ingested: the newest `tholdalert_recent_n` stored
/// points of each, snoozed by `tholdalert` rows among the `tholdalert_snooze_n` points before.
async fn threshold_alerts(
    ctx: &JobCtx,
    batch: &Batch,
    ingested: &[MetricRow],
    report: &mut JobReport,
) -> Result<(), JobError> {
    let spec = &batch.spec;
    let window = spec
        .tholdalert_recent_n
        .saturating_add(spec.tholdalert_snooze_n);
    let query = |metric_type| WindowQuery {
        table: &spec.table_key,
        batch: batch.name(),
        metric_type,
        max_n: window.max(1),
        since: None,
        until: Some(ctx.run_ts.naive_utc().max(latest(ingested))),
    };
    let values = ctx.store.metric_window(&query(MetricType::Metric)).await?;
    let alerts = ctx
        .store
        .metric_window(&query(MetricType::TholdAlert))
        .await?;
    let mut new_rows = Vec::new();
    for (metric, bounds) in &spec.tholdalert_thresholds {
        if spec.tholdalert_exclude_metrics.contains(metric)
            || !ingested.iter().any(|r| &r.name == metric)
        {
            continue;
        }
        let series: Vec<&MetricRow> = values.iter().filter(|r| &r.name == metric).collect();
        let alerted: Vec<bool> = series
            .iter()
            .map(|r| {
                alerts
                    .iter()
                    .any(|a| a.name == *metric && a.timestamp == r.timestamp)
            })
            .collect();
        let breaches: Vec<_> = series
            .iter()
            .map(|r| threshold_breach(r.value, bounds.upper, bounds.lower))
            .collect();
        let fires: Vec<bool> = breaches.iter().map(Option::is_some).collect();
        for i in snoozed_decisions(
            &fires,
            &alerted,
            spec.tholdalert_recent_n,
            spec.tholdalert_snooze_n,
            None,
        ) {
            let (row, Some(breach)) = (series[i], breaches[i]) else {
                continue;
            };
            let metadata = json!({
                "thresholds": {"upper": bounds.upper, "lower": bounds.lower},
                "breached_threshold_type": breach.kind(),
                "breached_threshold_value": breach.bound(),
                "metric_value_at_breach": row.value,
            });
            new_rows.push(MetricRow {
                timestamp: row.timestamp,
                batch: batch.name().to_owned(),
                name: metric.clone(),
                metric_type: MetricType::TholdAlert,
                value: 1.0,
                metadata: metadata.to_string(),
            });
            report.notices.push(Notice {
                metric: metric.clone(),
                event: Event::Threshold {
                    at: row.timestamp,
                    value: row.value,
                    upper: breach.kind() == "upper",
                    bound: breach.bound(),
                },
            });
        }
    }
    if !new_rows.is_empty() {
        ctx.store.upsert_metrics(&spec.table_key, &new_rows).await?;
        report.rows_written += new_rows.len() as u64;
        report.note(format!("{} threshold alert(s)", new_rows.len()));
    }
    Ok(())
}

fn latest(rows: &[MetricRow]) -> NaiveDateTime {
    rows.iter().map(|r| r.timestamp).max().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ts: Option<&str>, name: Option<&str>, value: RawValue) -> RawRow {
        RawRow {
            timestamp: ts.map(str::to_owned),
            name: name.map(str::to_owned),
            value,
        }
    }

    #[test]
    fn bad_rows_are_rejected_with_their_position_and_good_ones_rounded() {
        let mut bounds = BTreeMap::new();
        bounds.insert(
            "a".to_owned(),
            ThresholdBounds {
                upper: Some(10.0),
                lower: None,
            },
        );
        let n = normalize(
            "b",
            vec![
                raw(
                    Some("2024-01-01T00:00:00Z"),
                    Some("a"),
                    RawValue::Number(1.234567),
                ),
                raw(
                    Some("2024-01-01 00:00:00"),
                    Some("c"),
                    RawValue::Text("2.5".into()),
                ),
                raw(Some("nope"), Some("a"), RawValue::Number(1.0)),
                raw(Some("2024-01-01 00:00:00"), None, RawValue::Number(1.0)),
                raw(
                    Some("2024-01-01 00:00:00"),
                    Some("a"),
                    RawValue::Number(f64::NAN),
                ),
                raw(
                    Some("2024-01-01 00:00:00"),
                    Some("a"),
                    RawValue::Text("n/a".into()),
                ),
                raw(Some("2024-01-01 00:00:00"), Some("a"), RawValue::Missing),
                raw(
                    Some("2024-01-01 00:00:00"),
                    Some(&"x".repeat(201)),
                    RawValue::Number(1.0),
                ),
                raw(
                    Some("2024-01-01 00:00:00"),
                    Some("a\0b"),
                    RawValue::Number(1.0),
                ),
                raw(
                    Some("2024-01-01 00:01:00"),
                    Some("huge"),
                    RawValue::Text("1e305".into()),
                ),
                raw(
                    Some("2024-01-01 00:01:00"),
                    Some("a"),
                    RawValue::Text("-Infinity".into()),
                ),
            ],
            4,
            &bounds,
        );
        assert_eq!(n.rows.len(), 3);
        assert_eq!(n.rows[2].value, 1e305, "a huge value survives rounding");
        assert_eq!(n.rows[0].value, 1.2346);
        assert!(n.rows[0].metadata.contains("\"upper\":10.0"));
        assert_eq!(n.rows[1].metadata, "");
        let rows: Vec<usize> = n.rejected.iter().map(|r| r.row).collect();
        assert_eq!(rows, vec![3, 4, 5, 6, 7, 8, 9, 11]);
        assert!(
            n.rejected[5].reason.contains("limit is 200"),
            "{:?}",
            n.rejected
        );
    }
}
