//! Alert: per metric, the newest scored points (`alert_sql`) go through the alert rule
//! (trailing smoothing, threshold, recent points only, snooze by periods and by timestamp);
//! each decision becomes an `alert` row and a notice.

use super::{Event, JobCtx, JobError, JobReport, Notice, by_metric, read_rows};
use crate::config::Batch;
use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};

use super::stale;
use crate::detect::budget::budget_threshold;
use crate::detect::feedback::{FeedbackRule, placed};
use crate::detect::rules::{AlertRule, alert_decisions, back_to_normal};
use crate::detect::{AlertPoint, Verdict};
use crate::store::{
    BudgetThreshold, MetricRow, MetricType, StoredVerdict, WindowQuery, alert_metadata, score_notes,
};

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    let mut report = JobReport::default();
    let rows = read_rows(ctx, batch, "alert_sql", &spec.alert_sql, &mut report).await?;
    let teaching = spec.feedback_rule();
    let mut verdicts: BTreeMap<String, Vec<StoredVerdict>> = BTreeMap::new();
    if teaching.enabled() {
        for v in ctx
            .store
            .verdicts(&spec.table_key, batch.name(), None)
            .await?
        {
            verdicts.entry(v.metric.clone()).or_default().push(v);
        }
    }
    let mut history = budget_history(ctx, batch).await?;
    let mut new_alerts = Vec::new();
    let mut held = 0usize;
    for (metric, rows) in by_metric(rows) {
        let mut rule = spec.alert_rule_for(&metric);
        let (scores, points) = alert_points(&rows, verdicts.get(&metric), &teaching);
        let budget = spec.alert_budget_for(&metric);
        let mut spent: Vec<i64> = Vec::new();
        if let Some(budget) = budget {
            // The metric's own budget's history (the batch read the longest of them).
            let since = ctx.run_ts.naive_utc() - Duration::seconds(budget.history_seconds());
            let mut past = history.remove(&metric).unwrap_or_default();
            past.retain(|r| r.timestamp >= since);
            let (past_scores, past_points) = alert_points(&past, verdicts.get(&metric), &teaching);
            let span = match (past_scores.first(), past_scores.last()) {
                (Some(a), Some(b)) => (b.timestamp - a.timestamp).num_seconds(),
                _ => 0,
            };
            let configured = rule.threshold;
            rule.threshold = budget_threshold(&rule, &past_points, span, budget);
            let state = BudgetThreshold {
                budget: budget.to_string(),
                configured,
                threshold: rule.threshold,
                calibrated_at: ctx.run_ts.naive_utc(),
            };
            ctx.store
                .record_budget_threshold(batch.name(), &metric, &state)
                .await?;
            // Two periods back: a decided point may be older than the run.
            let since = ctx.run_ts.naive_utc() - Duration::seconds(2 * budget.period_seconds);
            spent = ctx
                .store
                .budget_spent(&spec.table_key, batch.name(), &metric, since)
                .await?
                .iter()
                .map(|t| t.and_utc().timestamp())
                .collect();
        }
        let alert_rows: BTreeMap<NaiveDateTime, &MetricRow> = rows
            .iter()
            .filter(|r| r.metric_type == MetricType::Alert)
            .map(|r| (r.timestamp, r))
            .collect();
        // Held and seeded alerts snooze like any other, but nobody was told of them: no
        // "back to normal".
        let alerted: Vec<bool> = scores
            .iter()
            .map(|s| alert_rows.contains_key(&s.timestamp))
            .collect();
        let told: Vec<bool> = scores
            .iter()
            .map(|s| {
                alert_rows
                    .get(&s.timestamp)
                    .is_some_and(|r| score_notes(&r.metadata).told())
            })
            .collect();
        let decided = alert_decisions(&rule, &points, &alerted);
        let smoothed = rule.smoothed(&points);
        if decided.is_empty() {
            let recovered = resolved(&rule, &smoothed, &told);
            // Told once: a sent "resolved" message since the alert means it was.
            let recovered = match recovered {
                Some(i) => {
                    let told = ctx
                        .store
                        .notified_since(batch.name(), &metric, "resolved", scores[i].timestamp)
                        .await?;
                    (!told).then_some(i)
                }
                None => None,
            };
            if let Some(since) = recovered {
                let last = scores[scores.len() - 1].timestamp;
                report.notices.push(Notice {
                    metric: metric.clone(),
                    event: Event::Resolved {
                        at: last,
                        alerted_at: scores[since].timestamp,
                        points: spec.alert_resolve_n,
                        threshold: rule.threshold,
                    },
                });
            }
            continue;
        }
        for i in decided {
            let at = scores[i].timestamp;
            let value = scores[i].value_at;
            // An extreme point alerted on its own score, not the smoothed one.
            let extreme = points[i].extreme && smoothed[i] < rule.threshold;
            let over = budget.is_some_and(|b| b.exceeded(&spent, at.and_utc().timestamp()));
            new_alerts.push(MetricRow {
                timestamp: at,
                batch: batch.name().to_owned(),
                name: metric.clone(),
                metric_type: MetricType::Alert,
                value: 1.0,
                metadata: alert_metadata(extreme, over),
            });
            if over {
                // Saved and shown; told in the daily summary.
                held += 1;
                continue;
            }
            spent.push(at.and_utc().timestamp());
            report.notices.push(Notice {
                metric: metric.clone(),
                event: Event::Anomaly {
                    at,
                    value,
                    score: if extreme {
                        points[i].score
                    } else {
                        smoothed[i]
                    },
                    threshold: rule.threshold,
                },
            });
        }
    }
    let written = ctx
        .store
        .upsert_metrics(&spec.table_key, &new_alerts)
        .await?;
    report.rows_written = written.written as u64;
    for n in &report.notices {
        tracing::warn!(batch = batch.name(), "{}: {}", n.title(), n.description());
    }
    report.note(match (written.written, held) {
        (0, _) => "no new anomalies to alert on".to_owned(),
        (n, 0) => format!("{n} alert(s)"),
        (n, h) => format!(
            "{n} alert(s), {h} of them over the alert budget (saved, held for the daily summary)"
        ),
    });
    stale::check(ctx, batch, None, &mut report).await;
    Ok(report)
}

/// A metric's score row as the alert job reads it, with the metric's value at that time.
struct Scored<'a> {
    timestamp: NaiveDateTime,
    value_at: Option<f64>,
    row: &'a MetricRow,
}

/// A metric's scored points (`rows` of one metric, oldest first: metric, score and alert
/// rows) as the alert rule sees them, with feedback's mutes applied.
fn alert_points<'a>(
    rows: &'a [MetricRow],
    verdicts: Option<&Vec<StoredVerdict>>,
    teaching: &FeedbackRule,
) -> (Vec<Scored<'a>>, Vec<AlertPoint>) {
    let value_at: BTreeMap<NaiveDateTime, f64> = rows
        .iter()
        .filter(|r| r.metric_type == MetricType::Metric)
        .map(|r| (r.timestamp, r.value))
        .collect();
    let scores: Vec<Scored> = rows
        .iter()
        .filter(|r| r.metric_type == MetricType::Score)
        .map(|r| Scored {
            timestamp: r.timestamp,
            value_at: value_at.get(&r.timestamp).copied(),
            row: r,
        })
        .collect();
    let taught = taught(verdicts, &scores);
    let points = scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let notes = score_notes(&s.row.metadata);
            AlertPoint {
                score: s.row.value,
                value: s.value_at.unwrap_or(f64::NAN),
                extreme: notes.extreme,
                muted: teaching.muted(&taught, i as f64, notes.level),
            }
        })
        .collect();
    (scores, points)
}

/// The score history of a batch's metrics with an alert budget, for the calibration: each
/// metric's values and scores over the longest budget's history. Empty without budgets.
async fn budget_history(
    ctx: &JobCtx,
    batch: &Batch,
) -> Result<BTreeMap<String, Vec<MetricRow>>, JobError> {
    let spec = &batch.spec;
    let longest = std::iter::once(spec.alert_budget)
        .chain(spec.metric_alert_settings.values().map(|m| m.alert_budget))
        .flatten()
        .map(|b| b.history_seconds())
        .max();
    let Some(longest) = longest else {
        return Ok(BTreeMap::new());
    };
    let until = ctx.run_ts.naive_utc();
    let mut rows = Vec::new();
    for metric_type in [MetricType::Metric, MetricType::Score] {
        rows.extend(
            ctx.store
                .metric_window(&WindowQuery {
                    table: &spec.table_key,
                    batch: batch.name(),
                    metric_type,
                    max_n: usize::MAX,
                    since: Some(until - Duration::seconds(longest)),
                    until: Some(until),
                })
                .await?,
        );
    }
    Ok(by_metric(rows))
}

/// A metric's verdicts placed among its scored points (`scores`, oldest first).
fn taught(verdicts: Option<&Vec<StoredVerdict>>, scores: &[Scored]) -> Vec<Verdict> {
    let times: Vec<i64> = scores
        .iter()
        .map(|s| s.timestamp.and_utc().timestamp())
        .collect();
    let given = verdicts.into_iter().flatten().map(StoredVerdict::given);
    placed(given, &times)
}

/// The index of the alert a metric has recovered from: its newest alert is followed by the
/// rule's `resolve_n` scored points in a row back to normal (not necessarily at once: the
/// scores may stay high for a while first). Whether the notice was already sent is for the
/// caller to check.
fn resolved(rule: &AlertRule, smoothed: &[f64], alerted: &[bool]) -> Option<usize> {
    if rule.resolve_n == 0 {
        return None;
    }
    let last = alerted.iter().rposition(|a| *a)?;
    let quiet = rule.quiet(smoothed.get(last + 1..)?);
    back_to_normal(&quiet, rule.resolve_n).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(threshold: f64, resolve_n: usize) -> AlertRule {
        AlertRule {
            threshold,
            resolve_n,
            ..AlertRule::default()
        }
    }

    #[test]
    fn recovery_needs_n_quiet_points_after_the_newest_alert() {
        let alerted = [false, true, false, false];
        assert_eq!(
            resolved(&rule(0.9, 2), &[0.1, 0.99, 0.2, 0.3], &alerted),
            Some(1)
        );
        assert_eq!(
            resolved(&rule(0.9, 3), &[0.1, 0.99, 0.2, 0.3], &alerted),
            None,
            "not yet"
        );
        assert_eq!(
            resolved(
                &rule(0.9, 2),
                &[0.1, 0.99, 0.95, 0.2, 0.3],
                &[false, true, false, false, false]
            ),
            Some(1),
            "high for a while, then back to normal"
        );
        assert_eq!(
            resolved(&rule(0.9, 2), &[0.1, 0.99, 0.2, 0.95], &alerted),
            None,
            "still high"
        );
        assert_eq!(
            resolved(&rule(0.9, 1), &[0.1, 0.99, 0.2, 0.3], &alerted),
            Some(1),
            "more quiet points than needed (the job checks it was not told yet)"
        );
        assert_eq!(
            resolved(&rule(0.9, 1), &[0.1, 0.2], &[false, false]),
            None,
            "never alerted"
        );
        assert_eq!(
            resolved(&rule(0.9, 0), &[0.1, 0.99, 0.2, 0.3], &alerted),
            None,
            "off"
        );
    }
}
