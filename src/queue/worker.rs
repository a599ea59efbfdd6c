//! The worker: an apalis worker whose backend claims jobs from `job_queue`, runs each with
//! the time limit (`ANOMSTACK_KILL_RUN_AFTER_MINUTES`), records it in `job_runs`, retries
//! failures with backoff, chains score → alert → change after an ingest when the batch asks,
//! heartbeats, and requeues jobs whose worker died. On shutdown it stops taking jobs, gives
//! running ones `shutdown_grace` to finish, and puts the rest back in the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data, Task, WorkerBuilder, WorkerBuilderExt, WorkerError};
use apalis_core::backend::custom::BackendBuilder;
use apalis_core::worker::context::WorkerContext;
use chrono::Utc;
use futures::{FutureExt, StreamExt, sink, stream};

use super::{Job, enqueue, retry_delay};
use crate::config::{BatchJob, LiveConfig};
use crate::jobs::{self, JobCtx, RunError, Services, Trigger, Work};
use crate::store::{QueueItem, patiently};

/// What every job run by this worker shares.
pub struct WorkerEnv {
    /// The database, channels, LLM and engines the jobs use.
    pub services: Services,
    /// Each job runs on a snapshot taken when it starts.
    pub config: Arc<LiveConfig>,
    pub worker_id: String,
    pub kill_after: Duration,
    /// A worker not seen for this long is presumed dead and its jobs are requeued.
    pub stale_after: Duration,
    /// The queue entries this worker is running.
    pub held: Held,
}

/// Ids of the queue entries a worker runs. An entry the queue says it holds but that is not
/// here (a claim whose answer was lost, a settlement that gave up while the database was
/// away) would otherwise stay "running" under a live worker: `recover` puts it back.
#[derive(Debug, Default)]
pub struct Held(std::sync::Mutex<std::collections::HashSet<i64>>);

impl Held {
    fn take(&self, id: i64) {
        if let Ok(mut ids) = self.0.lock() {
            ids.insert(id);
        }
    }

    fn release(&self, id: i64) {
        if let Ok(mut ids) = self.0.lock() {
            ids.remove(&id);
        }
    }

    fn ids(&self) -> Vec<i64> {
        self.0
            .lock()
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Pause between claims while the queue is empty.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// A worker id unique to this process.
pub fn new_worker_id() -> String {
    let host = std::env::var("FLY_MACHINE_ID")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "worker".to_owned());
    let nanos = Utc::now().timestamp_subsec_nanos();
    format!("{host}-{}-{nanos:08x}", std::process::id())
}

/// Runs until `shutdown` resolves, then drains as described in the module docs.
pub async fn run(
    env: Arc<WorkerEnv>,
    concurrency: usize,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let id = env.worker_id.clone();
    if let Err(e) = env.services.store.heartbeat(&id).await {
        tracing::warn!(error = %e, "cannot register the worker");
    }
    recover(&env).await;
    let beat_env = env.clone();
    let heartbeat = tokio::spawn(async move {
        let every = (beat_env.stale_after / 4).max(Duration::from_millis(200));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = beat_env.services.store.heartbeat(&beat_env.worker_id).await {
                tracing::warn!(error = %e, "worker heartbeat failed");
            }
            recover(&beat_env).await;
        }
    });

    let backend = BackendBuilder::new()
        .database(env.clone())
        .fetcher(|env: &mut Arc<WorkerEnv>, _: &(), _: &WorkerContext| claims(env.clone()))
        .sink(|env: &mut Arc<WorkerEnv>, _: &()| no_sink(env.clone()))
        .build();
    let backend = match backend {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the queue backend; no jobs will run");
            heartbeat.abort();
            return;
        }
    };
    let worker = WorkerBuilder::new(id.as_str())
        .backend(backend)
        .data(env.clone())
        .concurrency(concurrency.max(1))
        .build(handle);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopping = async move {
        let _ = stop_rx.await;
        Ok::<(), WorkerError>(())
    };
    let mut running: std::pin::Pin<Box<dyn Future<Output = Result<(), WorkerError>> + Send>> =
        Box::pin(worker.run_until(stopping));
    tokio::pin!(shutdown);
    tokio::select! {
        r = &mut running => {
            if let Err(e) = r {
                tracing::error!(error = %e, "the worker stopped");
            }
        }
        () = &mut shutdown => {
            tracing::info!(grace_s = grace.as_secs(), "worker stopping: finishing running jobs");
            let _ = stop_tx.send(());
            if tokio::time::timeout(grace, &mut running).await.is_err() {
                tracing::warn!("jobs still running after the grace period; requeuing them");
            }
        }
    }
    drop(running);
    heartbeat.abort();
    match env.services.store.release_worker_jobs(&id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "requeued unfinished jobs"),
        Err(e) => tracing::warn!(error = %e, "cannot requeue unfinished jobs"),
    }
    if let Err(e) = env.services.store.remove_worker(&id).await {
        tracing::warn!(error = %e, "cannot unregister the worker");
    }
    tracing::info!("worker stopped");
}

type Claimed = Result<Option<Task<QueueItem>>, BoxDynError>;

/// The stream of claimed jobs.
fn claims(env: Arc<WorkerEnv>) -> futures::stream::BoxStream<'static, Claimed> {
    stream::unfold(env, claim_next).boxed()
}

/// Waits for the next job. It never reports "empty": to apalis an empty item ends the stream
/// and stops the worker, so an idle queue is waited on here instead.
fn claim_next(
    env: Arc<WorkerEnv>,
) -> futures::future::BoxFuture<'static, Option<(Claimed, Arc<WorkerEnv>)>> {
    async move {
        loop {
            match env.services.store.claim_job(&env.worker_id).await {
                Ok(Some(item)) => {
                    env.held.take(item.id);
                    return Some((Ok(Some(Task::new(item))), env));
                }
                Ok(None) => tokio::time::sleep(IDLE_POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take a job from the queue");
                    tokio::time::sleep(IDLE_POLL * 4).await;
                }
            }
        }
    }
    .boxed()
}

type NoSink =
    std::pin::Pin<Box<dyn futures::Sink<Task<QueueItem>, Error = BoxDynError> + Send + 'static>>;

/// Jobs are queued through `queue::enqueue`, not through the worker's backend.
fn no_sink(env: Arc<WorkerEnv>) -> NoSink {
    Box::pin(sink::unfold(env, no_push))
}

fn no_push(
    env: Arc<WorkerEnv>,
    _item: Task<QueueItem>,
) -> futures::future::BoxFuture<'static, Result<Arc<WorkerEnv>, BoxDynError>> {
    async move { Ok(env) }.boxed()
}

async fn recover(env: &WorkerEnv) {
    let stale = Utc::now() - chrono::Duration::from_std(env.stale_after).unwrap_or_default();
    match env.services.store.recover_orphans(stale).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "requeued jobs of a worker that stopped"),
        Err(e) => tracing::warn!(error = %e, "cannot recover orphaned jobs"),
    }
    match env
        .services
        .store
        .release_unheld(&env.worker_id, &env.held.ids(), stale)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "requeued jobs the queue said this worker held"),
        Err(e) => tracing::warn!(error = %e, "cannot check the jobs this worker holds"),
    }
    let Some(silent) = chrono::Duration::from_std(crate::jobs::RUN_SILENT_AFTER)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
    else {
        return;
    };
    match env
        .services
        .store
        .fail_silent_runs(
            silent,
            "no end was recorded: the process running it stopped (killed, or the machine \
             stopped); rows it stored before are kept",
        )
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "marked runs of a stopped process as failed"),
        Err(e) => tracing::warn!(error = %e, "cannot mark abandoned runs"),
    }
}

async fn handle(item: QueueItem, env: Data<Arc<WorkerEnv>>) -> Result<(), BoxDynError> {
    let env: Arc<WorkerEnv> = (*env).clone();
    let id = item.id;
    execute(env.clone(), item).await;
    env.held.release(id);
    Ok(())
}

/// Runs one claimed job and settles it in the queue. Never fails: the outcome is recorded.
/// Boxed so the worker's service future is a plain `Send` type.
pub fn execute(env: Arc<WorkerEnv>, item: QueueItem) -> futures::future::BoxFuture<'static, ()> {
    async move { execute_inner(&env, item).await }.boxed()
}

async fn execute_inner(env: &WorkerEnv, item: QueueItem) {
    let trigger = match item.trigger.parse::<Trigger>() {
        Ok(t) => t,
        // Written by another version, perhaps: said, not taken for a schedule.
        Err(why) => {
            settle(env, &item, Err(why), Retry::No).await;
            return;
        }
    };
    let config = env.config.current();
    let ctx = JobCtx {
        queue_id: Some(item.id),
        ..JobCtx::for_run(
            &env.services,
            config.templates.clone(),
            item.run_ts.and_utc(),
        )
    };
    let work = match item
        .job
        .parse::<Job>()
        .and_then(|job| Work::resolve(job, &item.batch, &config))
    {
        Ok(work) => work,
        Err(why) => {
            settle(env, &item, Err(why), Retry::No).await;
            return;
        }
    };
    let runs = jobs::run(&ctx, work, trigger, Some(env.kill_after)).await;
    let outcome = match (work, runs.failure()) {
        (_, None) => Ok(()),
        // Its steps write idempotently, so a job the database's absence broke is run again
        // as a whole, soon.
        // A timeout may be a statement too slow for the limit: that retry counts.
        (_, Some((job, e))) if e.database_timed_out() => Err((
            format!("{job} failed: {e}"),
            Retry::After(retry_delay(item.attempts)),
        )),
        (_, Some((job, e))) if e.database_unreachable() => {
            Err((format!("{job} failed: {e}"), Retry::WhenBack))
        }
        // A pipeline is one queued job whose steps are each recorded: the first failure
        // stops it, and it is not retried as a whole.
        (Work::Pipeline(_), Some((job, e))) => Err((format!("{job} failed: {e}"), Retry::No)),
        (_, Some((_, e @ RunError::TimedOut(_)))) => Err((e.to_string(), Retry::No)),
        (_, Some((_, e))) => Err((e.to_string(), Retry::After(retry_delay(item.attempts)))),
    };
    match outcome {
        Ok(()) => {
            settle(env, &item, Ok(()), Retry::No).await;
            if let Some(next) = chained(work, trigger)
                && let Err(e) = enqueue(
                    &env.services.store,
                    &item.batch,
                    Job::Batch(next),
                    Trigger::Chain,
                    ctx.run_ts,
                )
                .await
            {
                tracing::warn!(error = %e, "cannot queue the chained job");
            }
        }
        Err((why, retry)) => settle(env, &item, Err(why), retry).await,
    }
}

/// The job a successful run chains to, for batches with `chain_after_ingest`: ingest → score,
/// and a chained score → alert → change.
fn chained(work: Work<'_>, trigger: Trigger) -> Option<BatchJob> {
    let Work::One(batch, job) = work else {
        return None;
    };
    if !batch.spec.chain_after_ingest {
        return None;
    }
    match (job, trigger) {
        (BatchJob::Ingest, _) => Some(BatchJob::Score),
        (BatchJob::Score, Trigger::Chain) => Some(BatchJob::Alert),
        (BatchJob::Alert, Trigger::Chain) => Some(BatchJob::Change),
        _ => None,
    }
}

/// Whether and when a failed job runs again.
enum Retry {
    No,
    /// After this delay, while attempts remain.
    After(chrono::Duration),
    /// The database was unreachable: shortly, and the attempt does not count (a worker
    /// cannot claim it before the database is back anyway).
    WhenBack,
}

/// A job the database's absence broke waits this long once it is back.
const RETRY_WHEN_BACK: chrono::Duration = chrono::Duration::seconds(10);

/// Records the outcome of a claimed job: done, failed for good, or pending again. The write
/// waits out an unreachable database: unsettled, the job would stay "running" on a live
/// worker.
async fn settle(env: &WorkerEnv, item: &QueueItem, outcome: Result<(), String>, retry: Retry) {
    let (store, worker) = (&env.services.store, env.worker_id.as_str());
    let requeue = match retry {
        Retry::After(delay) if item.attempts < item.max_attempts => Some((delay, true)),
        Retry::WhenBack => Some((RETRY_WHEN_BACK, false)),
        _ => None,
    };
    let result = match (&outcome, requeue) {
        (Ok(()), _) => patiently("settle a job", || store.finish_job(item.id, worker, None)).await,
        (Err(e), Some((delay, counted))) => {
            tracing::info!(
                batch = item.batch,
                job = item.job,
                attempt = item.attempts,
                retry_in_s = delay.num_seconds(),
                "job failed; will retry"
            );
            patiently("requeue a job", || {
                store.retry_job(item.id, worker, e, delay, counted)
            })
            .await
        }
        (Err(e), None) => {
            if let Some(notifier) = &env.services.notifier {
                notifier.job_failed(store, &item.batch, &item.job, e).await;
            }
            patiently("settle a job", || {
                store.finish_job(item.id, worker, Some(e))
            })
            .await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot settle a queued job");
    }
}
