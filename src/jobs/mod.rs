//! The pipeline's jobs, one file each. A job reads what its template selects from the app
//! database, decides with pure functions (`rules`, `detect`), writes rows idempotently and
//! returns a [`JobReport`]; [`run_recorded`] wraps any job with its `job_runs` row.
//! Jobs never render HTML and never send messages themselves: alert notices are returned in
//! the report for `notify`.

mod alert;
mod change;
mod delete;
mod ingest;
mod llmalert;
mod plot;
pub mod rules;
mod score;
mod summary;
mod train;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::config::{Batch, BatchJob, Templates};
use crate::model_store::{ModelStore, ModelStoreError};
use crate::sources::SourceError;
use crate::store::{MetricRow, RunOutcome, RunStatus, Store, StoreError};

pub use ingest::{NormalizedIngest, Rejection, normalize};
pub use summary::run_summary;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Admin,
    Api,
    Cli,
    Chain,
}

impl Trigger {
    pub const ALL: [Trigger; 5] = [
        Trigger::Schedule,
        Trigger::Admin,
        Trigger::Api,
        Trigger::Cli,
        Trigger::Chain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Admin => "admin",
            Trigger::Api => "api",
            Trigger::Cli => "cli",
            Trigger::Chain => "chain",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Trigger {
    type Err = String;

    /// The stored spelling; anything else is refused rather than taken for a schedule.
    fn from_str(s: &str) -> Result<Self, String> {
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown trigger `{s}` (one of schedule, admin, api, cli, chain)")
            })
    }
}

/// Everything a job needs besides its batch.
#[derive(Clone)]
pub struct JobCtx {
    pub store: Store,
    pub templates: Templates,
    /// The logical time of the run (a backfill sets it in the past).
    pub run_ts: DateTime<Utc>,
    /// The queued job this run belongs to, recorded on its `job_runs` row.
    pub queue_id: Option<i64>,
    /// Sends the notices of a successful run; `None` only logs them.
    pub notifier: Option<std::sync::Arc<crate::notify::Notifier>>,
    /// The LLM `llmalert` asks; `None` when none is configured.
    pub llm: Option<std::sync::Arc<crate::llm::LlmClient>>,
    /// The `db` engines and object stores batches use.
    pub connectors: crate::connectors::Connectors,
}

impl JobCtx {
    /// A context that sends nothing and reaches only the app database and local files; set
    /// the other fields for more.
    pub fn new(store: Store, templates: Templates, run_ts: DateTime<Utc>) -> Self {
        Self {
            store,
            templates,
            run_ts,
            queue_id: None,
            notifier: None,
            llm: None,
            connectors: Default::default(),
        }
    }
}

pub use crate::notify::{Notice, Table};

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct JobReport {
    pub rows_read: u64,
    pub rows_written: u64,
    /// Metrics left out, with why (young metric, no model yet, ...): not failures.
    pub skipped: Vec<String>,
    pub log: Vec<String>,
    pub notices: Vec<Notice>,
}

impl JobReport {
    fn note(&mut self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!("{line}");
        self.log.push(line);
    }

    fn skip(&mut self, metric: &str, reason: impl fmt::Display) {
        self.skipped.push(format!("{metric}: {reason}"));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Models(#[from] ModelStoreError),
    #[error("batch `{batch}`: {message}")]
    Config { batch: String, message: String },
    #[error("the job's worker stopped: {0}")]
    Worker(String),
}

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

/// Runs ingest at each logical time of `times`, then train and score once at the last, so a
/// new batch gets history. `on_step` is told how many ingests are done.
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

pub async fn backfill(
    ctx: &JobCtx,
    batch: &Batch,
    times: &[DateTime<Utc>],
    on_step: &(dyn Fn(usize) + Sync),
) -> Result<JobReport, JobError> {
    let mut total = JobReport::default();
    for (i, at) in times.iter().enumerate() {
        let step = JobCtx {
            run_ts: *at,
            ..ctx.clone()
        };
        // One recorded run per step, so the run history shows what a backfill stored.
        let report = record(
            &step,
            Some(batch),
            BatchJob::Ingest.as_str(),
            Trigger::Cli,
            None,
            ingest::run(&step, batch),
        )
        .await
        .map_err(JobError::from)?;
        total.rows_read += report.rows_read;
        total.rows_written += report.rows_written;
        total.notices.extend(report.notices);
        on_step(i + 1);
    }
    let last = JobCtx {
        run_ts: times.last().copied().unwrap_or(ctx.run_ts),
        ..ctx.clone()
    };
    for job in [BatchJob::Train, BatchJob::Score] {
        let report = run_recorded(&last, batch, job, Trigger::Cli).await?;
        total.log.extend(report.log);
        total.skipped.extend(report.skipped);
    }
    total.note(format!("backfilled {} ingest run(s)", times.len()));
    Ok(total)
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

async fn record(
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

/// Rows of one metric, by metric name, each list in time order.
fn by_metric(rows: Vec<MetricRow>) -> BTreeMap<String, Vec<MetricRow>> {
    let mut out: BTreeMap<String, Vec<MetricRow>> = BTreeMap::new();
    for r in rows {
        out.entry(r.name.clone()).or_default().push(r);
    }
    for list in out.values_mut() {
        list.sort_by_key(|r| r.timestamp);
    }
    out
}

/// A batch's model store.
fn model_store(ctx: &JobCtx, batch: &Batch) -> Result<ModelStore, JobError> {
    Ok(ctx
        .connectors
        .model_store(&batch.spec.model_path, &ctx.store)?)
}

/// Rounds to `places` decimals.
/// `v` rounded to `places` decimals. A value too large to have decimals at that precision
/// is returned as is: scaling it up first would overflow to infinity.
fn round_to(v: f64, places: u32) -> f64 {
    let f = 10f64.powi(places.min(15) as i32);
    let scaled = v * f;
    if !scaled.is_finite() || scaled.abs() >= 2f64.powi(53) {
        return v;
    }
    scaled.round() / f
}

/// `YYYY-MM-DD HH:MM`, as the original's alert titles show times.
fn title_time(ts: chrono::NaiveDateTime) -> String {
    ts.format("%Y-%m-%d %H:%M").to_string()
}

fn render(ctx: &JobCtx, batch: &Batch, key: &str, source: &str) -> Result<String, JobError> {
    ctx.templates
        .render(source, &batch.spec, ctx.run_ts)
        .map_err(|e| JobError::Config {
            batch: batch.name().to_owned(),
            message: format!("{key}: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_round_trip_and_unknown_ones_are_refused() {
        for t in Trigger::ALL {
            assert_eq!(t.to_string().parse::<Trigger>(), Ok(t));
        }
        assert!("cron".parse::<Trigger>().is_err());
        assert!("".parse::<Trigger>().is_err());
    }

    #[test]
    fn rounding_keeps_the_configured_places() {
        assert_eq!(round_to(1.23456, 4), 1.2346);
        assert_eq!(round_to(0.5, 0), 1.0);
    }

    #[test]
    fn rounding_a_huge_or_tiny_value_never_makes_an_infinity() {
        for v in [1e305, -1e305, f64::MAX, f64::MIN, 9.007e15 + 0.5] {
            assert_eq!(round_to(v, 4), v, "{v}");
        }
        assert_eq!(round_to(5e-324, 4), 0.0);
        assert_eq!(round_to(1e-5, 15), 1e-5);
    }
}
