//! The job queue: jobs live in the app database (`job_queue`), so every process sharing it
//! (one Fly machine, or web and workers apart on Turso) sees the same queue.
//!
//! - [`scheduler`] enqueues each batch's jobs at their cron times;
//! - [`worker`] runs an apalis worker whose backend claims jobs from the table (`UPDATE …
//!   RETURNING`; a unique index keeps one run of a (batch, job) at a time across processes),
//!   runs them with a time limit, retries failures with backoff, heartbeats, and recovers jobs
//!   orphaned by a dead process;
//! - admin buttons and the API enqueue the same jobs with [`enqueue`];
//! - [`housekeeping`] deletes old run history, queue entries and notification logs.

pub mod housekeeping;
pub mod scheduler;
pub mod worker;

use chrono::{DateTime, Utc};

use crate::jobs::Trigger;
pub use crate::jobs::{Job, PIPELINE_JOB, SUMMARY_JOB};
use crate::store::{Store, StoreError};

/// Tries per job (the first and two retries, as the original's Dagster setup).
pub const MAX_ATTEMPTS: u32 = 3;

/// The queue's name for the global summary job's batch.
pub const ALL_BATCHES: &str = "*";

/// Queues `job` of `batch` (coalesced with a waiting duplicate); the id, if queued.
pub async fn enqueue(
    store: &Store,
    batch: &str,
    job: Job,
    trigger: Trigger,
    run_ts: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    store
        .enqueue(batch, job.as_str(), trigger.as_str(), run_ts, MAX_ATTEMPTS)
        .await
}

/// Queues `job` of `batch` to run as soon as a worker is free, for a person or a script asking
/// now: joins (and hastens) a waiting duplicate rather than queueing a second. The queued id,
/// and whether it was an existing one.
pub async fn enqueue_now(
    store: &Store,
    batch: &str,
    job: Job,
    trigger: Trigger,
) -> Result<(i64, bool), StoreError> {
    // A waiting duplicate can be claimed between the two statements; a few rounds settle it.
    for _ in 0..5 {
        if let Some(id) = enqueue(store, batch, job, trigger, Utc::now()).await? {
            return Ok((id, false));
        }
        if let Some(id) = store.hasten_pending(batch, job.as_str()).await? {
            return Ok((id, true));
        }
    }
    Err(StoreError::Busy(format!(
        "cannot queue {job} of `{batch}`: the queue kept changing; try again"
    )))
}

/// Delay before retry `attempt` (1-based): 30 s, 60 s, 120 s, ... capped at 30 minutes.
pub fn retry_delay(attempt: u32) -> chrono::Duration {
    let secs = 30i64.saturating_mul(1i64 << attempt.saturating_sub(1).min(6));
    chrono::Duration::seconds(secs.min(1800))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially() {
        assert_eq!(retry_delay(1).num_seconds(), 30);
        assert_eq!(retry_delay(2).num_seconds(), 60);
        assert_eq!(retry_delay(10).num_seconds(), 1800);
    }
}
