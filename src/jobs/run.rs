//! Running a job and recording it: each run gets its `job_runs` row (started, then succeeded,
//! failed or timed out, with rows, log and error), beats while it works, and hands its
//! notices to `notify` once it is done. Every entry point (one job, the pipeline, a push, the
//! summary) goes through [`record`].

use tracing::Instrument;

use super::{
    JobCtx, JobError, JobReport, Trigger, alert, change, delete, ingest, llmalert, plot,
    run_summary, score, train,
};
use crate::config::{Batch, BatchJob};
use crate::store::{RunOutcome, RunStatus, Store};

/// Runs one job of one batch.
pub async fn run_job(ctx: &JobCtx, batch: &Batch, job: BatchJob) -> Result<JobReport, JobError> {
    if batch.spec.schedule(job).disabled {
        let mut report = JobReport::default();
        report.note(format!("{job} is disabled for batch `{}`", batch.name()));
        return Ok(report);
    }
    match job {
        BatchJob::Ingest => ingest::run(ctx, batch).await,
        BatchJob::Train => train::run(ctx, batch).await,
        BatchJob::Score => score::run(ctx, batch).await,
        BatchJob::Alert => alert::run(ctx, batch).await,
        BatchJob::Change => change::run(ctx, batch).await,
        BatchJob::Delete => delete::run(ctx, batch).await,
        BatchJob::Llmalert => llmalert::run(ctx, batch).await,
        BatchJob::Plot => plot::run(ctx, batch).await,
    }
}

/// The jobs `anomstack run pipeline` runs, in order.
pub const PIPELINE: [BatchJob; 5] = [
    BatchJob::Ingest,
    BatchJob::Train,
    BatchJob::Score,
    BatchJob::Alert,
    BatchJob::Change,
];

/// Runs ingest → train → score → alert → change, stopping at the first failure.
pub async fn run_pipeline(
    ctx: &JobCtx,
    batch: &Batch,
    trigger: Trigger,
) -> Vec<(BatchJob, Result<JobReport, JobError>)> {
    run_pipeline_until(ctx, batch, trigger, None)
        .await
        .into_iter()
        .map(|(job, r)| (job, r.map_err(JobError::from)))
        .collect()
}

/// [`run_pipeline`] that must end by `deadline`: each step gets the time left, so a step cut
/// short is recorded as timed out (never left "running") and the rest do not start.
pub async fn run_pipeline_until(
    ctx: &JobCtx,
    batch: &Batch,
    trigger: Trigger,
    deadline: Option<tokio::time::Instant>,
) -> Vec<(BatchJob, Result<JobReport, RunError>)> {
    let mut out = Vec::new();
    for job in PIPELINE {
        let limit = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        let result = run_limited(ctx, batch, job, trigger, limit).await;
        let failed = result.is_err();
        out.push((job, result));
        if failed {
            break;
        }
    }
    out
}

/// Runs a job and records it in `job_runs`: started, then succeeded or failed with its rows,
/// log and error.
pub async fn run_recorded(
    ctx: &JobCtx,
    batch: &Batch,
    job: BatchJob,
    trigger: Trigger,
) -> Result<JobReport, JobError> {
    run_limited(ctx, batch, job, trigger, None)
        .await
        .map_err(JobError::from)
}

impl From<RunError> for JobError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Failed(e) => e,
            RunError::TimedOut(limit) => {
                JobError::Worker(format!("timed out after {} s", limit.as_secs()))
            }
        }
    }
}

/// Why a recorded run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Failed(#[from] JobError),
    #[error("cancelled after running longer than {} minutes", .0.as_secs() / 60)]
    TimedOut(std::time::Duration),
}

/// [`run_recorded`] with an optional time limit: past it the job is cancelled and its run is
/// recorded as timed out.
pub async fn run_limited(
    ctx: &JobCtx,
    batch: &Batch,
    job: BatchJob,
    trigger: Trigger,
    limit: Option<std::time::Duration>,
) -> Result<JobReport, RunError> {
    record(
        ctx,
        Some(batch),
        job.as_str(),
        trigger,
        limit,
        run_job(ctx, batch, job),
    )
    .await
}

/// Rows pushed to a batch through the API, recorded as an `ingest` run triggered by `api`.
pub async fn run_push(
    ctx: &JobCtx,
    batch: &Batch,
    rows: Vec<crate::sources::RawRow>,
) -> Result<JobReport, RunError> {
    record(
        ctx,
        Some(batch),
        BatchJob::Ingest.as_str(),
        Trigger::Api,
        None,
        ingest::push(ctx, batch, rows),
    )
    .await
}

/// The summary job, recorded like the others (batch `*`).
pub async fn run_summary_limited(
    ctx: &JobCtx,
    batches: &[Batch],
    trigger: Trigger,
    limit: Option<std::time::Duration>,
) -> Result<JobReport, RunError> {
    record(
        ctx,
        None,
        "summary",
        trigger,
        limit,
        run_summary(ctx, batches),
    )
    .await
}

/// How often a running run records that its process is alive.
pub const RUN_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);
/// A run without a beat for this long is presumed dead (its process was killed).
pub const RUN_SILENT_AFTER: std::time::Duration = std::time::Duration::from_secs(45);

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<std::convert::Infallible>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Beats for run `id` until aborted.
async fn heartbeat(store: Store, id: i64) -> std::convert::Infallible {
    let mut every = tokio::time::interval(RUN_HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = store.beat_run(id).await {
            tracing::warn!(run = id, error = %e, "cannot record a run's heartbeat");
        }
    }
}

pub(super) async fn record(
    ctx: &JobCtx,
    target: Option<&Batch>,
    job: &str,
    trigger: Trigger,
    limit: Option<std::time::Duration>,
    work: impl std::future::Future<Output = Result<JobReport, JobError>>,
) -> Result<JobReport, RunError> {
    let batch = target.map_or("*", Batch::name);
    let id = ctx
        .store
        .start_run(batch, job, trigger.as_str(), ctx.queue_id)
        .await
        .map_err(JobError::from)?;
    let span = tracing::info_span!("job", batch, job, run = id);
    let limited = async {
        match limit {
            Some(limit) => match tokio::time::timeout(limit, work.instrument(span)).await {
                Ok(r) => r.map_err(RunError::Failed),
                Err(_) => Err(RunError::TimedOut(limit)),
            },
            None => work.instrument(span).await.map_err(RunError::Failed),
        }
    };
    // While it works and delivers, the run says so, from a task of its own (a job's long
    // synchronous stretch does not hold the beats up): a run whose beats stop belongs to a
    // process that died (`Store::fail_silent_runs`). Dropping the guard stops them, also when
    // this future is cancelled.
    let beats = AbortOnDrop(tokio::spawn(heartbeat(ctx.store.clone(), id)));
    let mut result = limited.await;
    if let (Ok(report), Some(notifier)) = (&mut result, &ctx.notifier)
        && !report.notices.is_empty()
    {
        let delivery = notifier.deliver(&ctx.store, target, &report.notices, Some(id));
        match tokio::time::timeout(crate::notify::DELIVERY_DEADLINE, delivery).await {
            Ok(lines) => report.log.extend(lines),
            Err(_) => report.note(format!(
                "delivery stopped after {} s; the remaining messages were not sent",
                crate::notify::DELIVERY_DEADLINE.as_secs()
            )),
        }
    }
    drop(beats);
    let (status, outcome) = match &result {
        Ok(report) => (
            RunStatus::Succeeded,
            RunOutcome {
                rows_read: report.rows_read,
                rows_written: report.rows_written,
                error: None,
                log: report_log(report),
            },
        ),
        Err(e) => (
            if matches!(e, RunError::TimedOut(_)) {
                RunStatus::TimedOut
            } else {
                RunStatus::Failed
            },
            RunOutcome {
                error: Some(e.to_string()),
                ..RunOutcome::default()
            },
        ),
    };
    if let Err(e) = &result {
        tracing::warn!(batch, job, error = %e, "job did not succeed");
    }
    ctx.store
        .finish_run(id, status, &outcome)
        .await
        .map_err(JobError::from)?;
    result
}

fn report_log(report: &JobReport) -> String {
    let mut lines = report.log.clone();
    lines.extend(report.skipped.iter().map(|s| format!("skipped {s}")));
    lines.extend(
        report
            .notices
            .iter()
            .map(|n| format!("notice: {}", n.title)),
    );
    lines.join("\n")
}
