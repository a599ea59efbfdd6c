//! History for new batches: [`backfill`] ingests at past run times then trains and scores;
//! [`seed_empty_batches`] does it for every batch without rows when `serve` starts.

use chrono::{DateTime, Utc};

use super::run::run_recorded;
use super::{JobCtx, JobError, JobReport, Trigger};
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
        match backfill(ctx, batch, &times, &|_| {}).await {
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

/// Runs ingest at each logical time of `times`, then train and score once at the last, so a
/// new batch gets history. `on_step` is told how many ingests are done.
pub async fn backfill(
    ctx: &JobCtx,
    batch: &Batch,
    times: &[DateTime<Utc>],
    on_step: &(dyn Fn(usize) + Sync),
) -> Result<JobReport, JobError> {
    let mut total = JobReport::default();
    for (i, at) in times.iter().enumerate() {
        let step = ctx.at(*at);
        // One recorded run per step, so the run history shows what a backfill stored.
        let report = run_recorded(&step, batch, BatchJob::Ingest, Trigger::Cli).await?;
        total.rows_read += report.rows_read;
        total.rows_written += report.rows_written;
        total.notices.extend(report.notices);
        on_step(i + 1);
    }
    let last = ctx.at(times.last().copied().unwrap_or(ctx.run_ts));
    for job in [BatchJob::Train, BatchJob::Score] {
        let report = run_recorded(&last, batch, job, Trigger::Cli).await?;
        total.log.extend(report.log);
        total.skipped.extend(report.skipped);
    }
    total.note(format!("backfilled {} ingest run(s)", times.len()));
    Ok(total)
}
