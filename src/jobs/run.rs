//! Running a job and recording it: each run gets its `job_runs` row (started, then succeeded,
//! failed or timed out, with rows, log and error), beats while it works, and hands its
//! notices to `notify` once it is done. [`run`] runs any [`Work`] (one job, a pipeline, the
//! summary) and [`push`] stores pushed rows; both go through [`record`].

use tracing::Instrument;

use std::time::Duration;

use tokio::time::Instant;

use super::job::{Job, SUMMARY_JOB, Work};
use super::summary::run_summary;
use super::{
    Delivery, JobCtx, JobError, JobReport, Rejection, Trigger, alert, change, delete, ingest,
    llmalert, plot, score, train,
};
use crate::config::{Batch, BatchJob};
use crate::notify::DELIVERY_DEADLINE;
use crate::sources::RawRow;
use crate::store::{RunOutcome, RunStatus, Store};

/// Runs `work` and records each run in `job_runs` (a pipeline records one run per step). With
/// a `limit`, the whole call must end by then: each step gets the time left, a step cut short
/// is recorded as timed out (never left "running") and the rest do not start. A pipeline
/// stops at its first failure.
pub async fn run(ctx: &JobCtx, work: Work<'_>, trigger: Trigger, limit: Option<Duration>) -> Runs {
    let deadline = limit.map(|l| Instant::now() + l);
    // The first step is told the limit as configured (its timeout message names it); later
    // steps of a pipeline get what is left of it.
    let mut first = true;
    let mut left = || {
        if std::mem::take(&mut first) {
            return limit;
        }
        deadline.map(|d| d.saturating_duration_since(Instant::now()))
    };
    let one;
    let (batch, steps): (&Batch, &[BatchJob]) = match work {
        Work::Summary(batches) => {
            let result = record(
                ctx,
                None,
                SUMMARY_JOB,
                trigger,
                left(),
                run_summary(ctx, batches),
            );
            return Runs(vec![(Job::Summary, result.await)]);
        }
        Work::One(batch, job) => {
            one = [job];
            (batch, &one)
        }
        Work::Pipeline(batch) => (batch, &PIPELINE),
    };
    let mut runs = Vec::new();
    for &job in steps {
        let result = record(
            ctx,
            Some(batch),
            job.as_str(),
            trigger,
            left(),
            execute(ctx, batch, job),
        )
        .await;
        let failed = result.is_err();
        runs.push((Job::Batch(job), result));
        if failed {
            break;
        }
    }
    Runs(runs)
}

/// One job of one batch, recorded: [`run`] of [`Work::One`] without a limit.
pub async fn run_recorded(
    ctx: &JobCtx,
    batch: &Batch,
    job: BatchJob,
    trigger: Trigger,
) -> Result<JobReport, JobError> {
    run(ctx, Work::One(batch, job), trigger, None)
        .await
        .report()
        .map_err(JobError::from)
}

/// The recorded runs of one [`run`], in order.
pub struct Runs(pub Vec<(Job, Result<JobReport, RunError>)>);

impl Runs {
    /// The first failure, or else the last report.
    pub fn report(self) -> Result<JobReport, RunError> {
        let mut last = None;
        for (_, result) in self.0 {
            last = Some(result?);
        }
        Ok(last.unwrap_or_default())
    }

    /// The step that failed, and why.
    pub fn failure(&self) -> Option<(Job, &RunError)> {
        self.0
            .iter()
            .find_map(|(job, r)| r.as_ref().err().map(|e| (*job, e)))
    }
}

/// Rows a client pushed to a batch: which were rejected (and why) and the recorded `ingest`
/// run (trigger `api`) that stored the rest.
pub struct Pushed {
    pub rejected: Vec<Rejection>,
    pub result: Result<JobReport, RunError>,
}

/// Stores rows pushed to `batch` through the API as an `ingest` run triggered by `api`. The
/// rows are checked once; alerts they raise leave as `ctx.delivery` says.
pub async fn push(ctx: &JobCtx, batch: &Batch, rows: Vec<RawRow>) -> Pushed {
    let normalized = ingest::normalize_for(batch, rows);
    let rejected = normalized.rejected.clone();
    let result = record(
        ctx,
        Some(batch),
        BatchJob::Ingest.as_str(),
        Trigger::Api,
        None,
        ingest::push(ctx, batch, normalized),
    )
    .await;
    Pushed { rejected, result }
}

/// Runs one job of one batch, unrecorded.
async fn execute(ctx: &JobCtx, batch: &Batch, job: BatchJob) -> Result<JobReport, JobError> {
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

impl RunError {
    /// Whether the run failed because the database could not be reached: the job can be
    /// tried again as a whole once it is back (every step writes idempotently).
    pub fn database_unreachable(&self) -> bool {
        matches!(self, Self::Failed(JobError::Store(e)) if e.is_unavailable())
    }

    /// Whether a statement of the run ran out of its time limit.
    pub fn database_timed_out(&self) -> bool {
        matches!(self, Self::Failed(JobError::Store(e)) if e.is_timeout())
    }
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
    if let (Ok(report), Some(batch)) = (&mut result, target) {
        super::incidents::group(ctx, batch, report).await;
    }
    if let (Ok(report), Some(notifier)) = (&mut result, &ctx.notifier)
        && !report.notices.is_empty()
    {
        match ctx.delivery {
            Delivery::Awaited => {
                let delivery =
                    notifier.deliver(&ctx.store, target, &report.notices, &report.parts, Some(id));
                match tokio::time::timeout(DELIVERY_DEADLINE, delivery).await {
                    Ok(lines) => report.log.extend(lines),
                    Err(_) => report.note(format!(
                        "delivery stopped after {} s; the remaining messages were not sent",
                        DELIVERY_DEADLINE.as_secs()
                    )),
                }
            }
            Delivery::Detached => {
                let (notifier, store) = (notifier.clone(), ctx.store.clone());
                let (target, notices) = (target.cloned(), report.notices.clone());
                let parts = report.parts.clone();
                tokio::spawn(async move {
                    let delivery =
                        notifier.deliver(&store, target.as_ref(), &notices, &parts, Some(id));
                    if tokio::time::timeout(DELIVERY_DEADLINE, delivery)
                        .await
                        .is_err()
                    {
                        tracing::warn!(run = id, "delivery stopped at its deadline");
                    }
                });
            }
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
    // The run's end is what tells everyone it is over: it waits out a database that is
    // away for a while (the work's own failure, if the database caused it, is kept).
    crate::store::patiently("record a run's end", || {
        ctx.store.finish_run(id, status, &outcome)
    })
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
            .map(|n| format!("notice: {}", n.title())),
    );
    lines.join("\n")
}
