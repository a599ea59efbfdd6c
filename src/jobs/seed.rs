//! History for new batches: [`backfill`] ingests at past run times then trains and scores;
//! [`seed_empty_batches`] does it for every batch without rows when `serve` starts.

use chrono::{DateTime, Utc};

use super::run::{record, run_recorded};
use super::{JobCtx, JobError, JobReport, Trigger, by_metric, read_rows, round_to};
use crate::detect::{AlertRule, replay};
use crate::store::{MetricRow, MetricType, seeded_alert_metadata};

/// Points between retrainings when history is scored walk-forward.
const HISTORY_RETRAIN_EVERY: usize = 12;
use crate::config::{Batch, BatchJob};

/// Gives every enabled batch without any stored row `hours` of history (ingest every
/// `every`, then train and score), so a new deployment's dashboard shows data, scores and
/// models at once instead of after the first hour of schedules (`ANOMSTACK_SEED_HOURS`).
/// Batches already holding rows are left alone; a failing batch is logged and skipped.
/// Returns the batches seeded.
pub async fn seed_empty_batches(
    ctx: &JobCtx,
    batches: &[Batch],
    hours: u32,
    every: chrono::Duration,
) -> Vec<String> {
    let end = ctx.run_ts;
    let start = end - chrono::Duration::hours(i64::from(hours));
    let mut times = Vec::new();
    let mut at = start;
    while at <= end && every > chrono::Duration::zero() {
        times.push(at);
        at += every;
    }
    let mut seeded = Vec::new();
    for batch in batches {
        let spec = &batch.spec;
        // Switched-off batches are not in `batches` at all; a disabled ingest has no history.
        if spec.schedule(BatchJob::Ingest).disabled {
            continue;
        }
        match ctx
            .store
            .batch_has_rows(&spec.table_key, batch.name())
            .await
        {
            Ok(false) => {}
            Ok(true) => continue,
            Err(e) => {
                tracing::warn!(batch = batch.name(), error = %e, "seed: cannot look at the batch");
                continue;
            }
        }
        match backfill(ctx, batch, &times, Trigger::Seed, &|_| {}).await {
            Ok(report) => {
                tracing::info!(
                    batch = batch.name(),
                    hours,
                    rows = report.rows_written,
                    "seeded an empty batch with history"
                );
                seeded.push(batch.name().to_owned());
            }
            Err(e) => tracing::warn!(batch = batch.name(), error = %e, "seed failed"),
        }
    }
    seeded
}

/// Runs ingest at each logical time of `times`, scores them walk-forward, then trains and
/// scores once at the last, so a new batch gets history. Every run is recorded with
/// `trigger` (`backfill`, or `seed` at start). `on_step` is told how many ingests are done.
pub async fn backfill(
    ctx: &JobCtx,
    batch: &Batch,
    times: &[DateTime<Utc>],
    trigger: Trigger,
    on_step: &(dyn Fn(usize) + Sync),
) -> Result<JobReport, JobError> {
    if batch.spec.schedule(BatchJob::Ingest).disabled {
        return Err(JobError::Config {
            batch: batch.name().to_owned(),
            message: "ingest is disabled for this batch (disable_ingest), so it has no history to backfill".into(),
        });
    }
    let mut total = JobReport::default();
    for (i, at) in times.iter().enumerate() {
        let step = JobCtx {
            history: true,
            ..ctx.at(*at)
        };
        // One recorded run per step, so the run history shows what a backfill stored.
        let report = run_recorded(&step, batch, BatchJob::Ingest, trigger).await?;
        total.rows_read += report.rows_read;
        total.rows_written += report.rows_written;
        total.notices.extend(report.notices);
        on_step(i + 1);
    }
    let last = ctx.at(times.last().copied().unwrap_or(ctx.run_ts));
    // History scored as it would have been live: each point by models trained only on the
    // points before it, alerts by the live rule. Then the models of now.
    let scored = record(
        &last,
        Some(batch),
        BatchJob::Score.as_str(),
        trigger,
        None,
        score_history(&last, batch),
    )
    .await
    .map_err(JobError::from)?;
    total.log.extend(scored.log);
    total.rows_written += scored.rows_written;
    for job in [BatchJob::Train, BatchJob::Score] {
        let report = run_recorded(&last, batch, job, trigger).await?;
        total.log.extend(report.log);
        total.skipped.extend(report.skipped);
    }
    total.note(format!("backfilled {} ingest run(s)", times.len()));
    Ok(total)
}

/// Scores the history `train_sql` selects walk-forward (`detect::replay`): each point by
/// models trained only on the points before it, retrained every [`HISTORY_RETRAIN_EVERY`]
/// points, and alerts decided on those scores by the batch's rule. Writes the score and
/// alert rows; points before the first model get none.
async fn score_history(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    let mut report = JobReport::default();
    let settings = spec
        .replay_settings(HISTORY_RETRAIN_EVERY)
        .map_err(|message| JobError::Config {
            batch: batch.name().to_owned(),
            message,
        })?;
    let rows = read_rows(ctx, batch, "train_sql", &spec.train_sql, &mut report).await?;
    let mut new_rows = Vec::new();
    let mut alerts = 0usize;
    for (metric, rows) in by_metric(rows) {
        let series: Vec<&MetricRow> = rows
            .iter()
            .filter(|r| r.metric_type == MetricType::Metric)
            .collect();
        let points: Vec<(i64, f64)> = series
            .iter()
            .map(|r| (r.timestamp.and_utc().timestamp(), r.value))
            .collect();
        // A few thousand model fits at most: off the async threads.
        let replayed = {
            // The metric's own alert settings, as the live alert job applies them.
            let mut settings = settings.clone();
            settings.rule = AlertRule {
                recent_n: 1,
                ..spec.alert_rule_for(&metric)
            };
            tokio::task::spawn_blocking(move || replay(&points, &settings))
                .await
                .map_err(|e| JobError::Worker(format!("scoring the history stopped: {e}")))?
        };
        for (row, r) in series.iter().zip(replayed) {
            if !r.scored {
                continue;
            }
            let at = |metric_type, value| MetricRow {
                timestamp: row.timestamp,
                batch: batch.name().to_owned(),
                name: metric.clone(),
                metric_type,
                value,
                metadata: String::new(),
            };
            new_rows.push(at(
                MetricType::Score,
                round_to(r.score, spec.score_metric_rounding),
            ));
            if r.alert {
                alerts += 1;
                // Never sent: budgets do not count it, "back to normal" does not follow it.
                new_rows.push(MetricRow {
                    metadata: seeded_alert_metadata(),
                    ..at(MetricType::Alert, 1.0)
                });
            }
        }
    }
    let written = ctx.store.upsert_metrics(&spec.table_key, &new_rows).await?;
    report.rows_written = written.written as u64;
    report.note(format!(
        "scored the history walk-forward: {} rows, {alerts} alert(s)",
        written.written
    ));
    Ok(report)
}
