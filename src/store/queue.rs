//! The SQL of the job queue: enqueue (coalescing), claim with `UPDATE … RETURNING`, finish,
//! retry with a delay, requeue, worker heartbeats and orphan recovery. The queue logic that
//! decides *when* lives in `crate::queue`.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::Store;
use super::error::{SqlContext, StoreError};
use super::row::first_id;
use crate::timestamp::{format_db, parse_lenient};

/// A job taken from the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub id: i64,
    pub batch: String,
    pub job: String,
    pub trigger: String,
    pub run_ts: NaiveDateTime,
    /// Including this one.
    pub attempts: u32,
    pub max_attempts: u32,
}

/// Counts by status, for pages and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub pending: u64,
    pub running: u64,
    pub failed: u64,
}

/// A queue row as the admin panel shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub id: i64,
    pub batch: String,
    pub job: String,
    pub trigger: String,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub created_at: NaiveDateTime,
    pub run_after: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub lock_by: Option<String>,
}

impl QueueEntry {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "done" | "failed")
    }
}

/// A worker process and when it last reported.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerInfo {
    pub id: String,
    pub started_at: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

const QUEUE_COLUMNS: &str = "id, batch, job, trigger, status, attempts, max_attempts, created_at, run_after, finished_at, last_error, lock_by";

fn entry_from_row(row: &libsql::Row, ctx: &str) -> Result<QueueEntry, StoreError> {
    let ts = |i: i32| -> Result<Option<NaiveDateTime>, StoreError> {
        Ok(row
            .get::<Option<String>>(i)
            .context(ctx)?
            .and_then(|s| parse_lenient(&s)))
    };
    Ok(QueueEntry {
        id: row.get(0).context(ctx)?,
        batch: row.get(1).context(ctx)?,
        job: row.get(2).context(ctx)?,
        trigger: row.get(3).context(ctx)?,
        status: row.get(4).context(ctx)?,
        attempts: row.get::<i64>(5).context(ctx)?.max(0) as u32,
        max_attempts: row.get::<i64>(6).context(ctx)?.max(0) as u32,
        created_at: ts(7)?.unwrap_or_default(),
        run_after: ts(8)?.unwrap_or_default(),
        finished_at: ts(9)?,
        last_error: row.get(10).context(ctx)?,
        lock_by: row.get(11).context(ctx)?,
    })
}

fn now() -> String {
    format_db(Utc::now().naive_utc())
}

impl Store {
    /// Queues a job unless the same (batch, job) is already waiting, or the same scheduled
    /// tick is already queued. Returns the new id, or `None` when coalesced.
    pub async fn enqueue(
        &self,
        batch: &str,
        job: &str,
        trigger: &str,
        run_ts: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<i64>, StoreError> {
        let conn = self.connect().await?;
        let ctx = format!("cannot queue {job} of `{batch}`");
        let mut rows = conn
            .query(
                "INSERT OR IGNORE INTO job_queue (batch, job, trigger, run_ts, max_attempts, run_after, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?6
                 WHERE NOT EXISTS (SELECT 1 FROM job_queue WHERE batch = ?1 AND job = ?2 AND status = 'pending')
                 RETURNING id",
                libsql::params![
                    batch,
                    job,
                    trigger,
                    format_db(run_ts.naive_utc()),
                    i64::from(max_attempts),
                    now()
                ],
            )
            .await
            .context(ctx.clone())?;
        match rows.next().await.context(ctx.clone())? {
            Some(row) => Ok(Some(row.get::<i64>(0).context(ctx)?)),
            None => Ok(None),
        }
    }

    /// Takes the oldest runnable job whose (batch, job) is not already running, for `worker`.
    /// A batch's `pipeline` runs alone: not beside any other job of its batch.
    pub async fn claim_job(&self, worker: &str) -> Result<Option<QueueItem>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot take a job from the queue";
        let now = now();
        let result = conn
            .query(
                "UPDATE job_queue SET status = 'running', lock_by = ?1, lock_at = ?2, attempts = attempts + 1
                 WHERE id = (
                     SELECT q.id FROM job_queue q
                     WHERE q.status = 'pending' AND q.run_after <= ?2
                       AND NOT EXISTS (SELECT 1 FROM job_queue r
                                       WHERE r.status = 'running' AND r.batch = q.batch
                                         AND (r.job = q.job OR r.job = 'pipeline' OR q.job = 'pipeline'))
                     ORDER BY q.id LIMIT 1)
                 RETURNING id, batch, job, trigger, run_ts, attempts, max_attempts",
                libsql::params![worker, now],
            )
            .await;
        let mut rows = match result {
            Ok(rows) => rows,
            // Another process took the same (batch, job) between our read and write.
            Err(e) if e.to_string().contains("UNIQUE constraint failed") => return Ok(None),
            Err(e) => return Err(e).context(ctx),
        };
        let Some(row) = rows.next().await.context(ctx)? else {
            return Ok(None);
        };
        let run_ts: String = row.get(4).context(ctx)?;
        Ok(Some(QueueItem {
            id: row.get(0).context(ctx)?,
            batch: row.get(1).context(ctx)?,
            job: row.get(2).context(ctx)?,
            trigger: row.get(3).context(ctx)?,
            run_ts: parse_lenient(&run_ts).unwrap_or_default(),
            attempts: row.get::<i64>(5).context(ctx)?.max(0) as u32,
            max_attempts: row.get::<i64>(6).context(ctx)?.max(0) as u32,
        }))
    }

    /// Marks a job `worker` holds done, or failed for good with `error`. A job no longer
    /// held by `worker` (requeued while the database was away, perhaps run by another) is
    /// left alone.
    pub async fn finish_job(
        &self,
        id: i64,
        worker: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "UPDATE job_queue SET status = ?2, finished_at = ?3, last_error = ?4
             WHERE id = ?1 AND status = 'running' AND lock_by = ?5",
            libsql::params![
                id,
                if error.is_some() { "failed" } else { "done" },
                now(),
                error,
                worker
            ],
        )
        .await
        .context("cannot finish a queued job")?;
        Ok(())
    }

    /// Puts a failed job `worker` holds back, to be retried after `delay`; unless `counted`,
    /// the attempt does not count towards its maximum. (Held: see [`Store::finish_job`].)
    pub async fn retry_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        delay: chrono::Duration,
        counted: bool,
    ) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        let after = format_db((Utc::now() + delay).naive_utc());
        conn.execute(
            "UPDATE job_queue SET status = 'pending', run_after = ?2, last_error = ?3, lock_by = NULL, lock_at = NULL,
                    attempts = CASE WHEN ?4 THEN attempts ELSE MAX(attempts - 1, 0) END
             WHERE id = ?1 AND status = 'running' AND lock_by = ?5",
            libsql::params![id, after, error, counted, worker],
        )
        .await
        .context("cannot requeue a job")?;
        Ok(())
    }

    /// Jobs `worker` holds go back to the queue (a graceful stop with jobs still running);
    /// the attempt does not count.
    pub async fn release_worker_jobs(&self, worker: &str) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        // The interrupted runs end here: their futures were dropped before recording an end.
        conn.execute(
            "UPDATE job_runs SET status = 'failed', finished_at = ?2,
                    error = 'stopped by a shutdown before it finished; the job was requeued'
             WHERE status = 'running'
               AND queue_id IN (SELECT id FROM job_queue WHERE status = 'running' AND lock_by = ?1)",
            libsql::params![worker, now()],
        )
        .await
        .context("cannot end a worker's interrupted runs")?;
        conn.execute(
            "UPDATE job_queue SET status = 'pending', attempts = MAX(attempts - 1, 0), lock_by = NULL, lock_at = NULL
             WHERE status = 'running' AND lock_by = ?1",
            [worker],
        )
        .await
        .context("cannot release a worker's jobs")
    }

    /// Records that `worker` is alive.
    pub async fn heartbeat(&self, worker: &str) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        let now = now();
        conn.execute(
            "INSERT INTO queue_workers (id, started_at, last_seen) VALUES (?1, ?2, ?2)
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
            libsql::params![worker, now],
        )
        .await
        .context("cannot record a worker heartbeat")?;
        Ok(())
    }

    pub async fn remove_worker(&self, worker: &str) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute("DELETE FROM queue_workers WHERE id = ?1", [worker])
            .await
            .context("cannot remove a worker")?;
        Ok(())
    }

    /// Jobs the queue says `worker` holds, locked before `locked_before`, that it is not
    /// running (`running`) go back to the queue; their runs are ended by the silent-run check.
    pub async fn release_unheld(
        &self,
        worker: &str,
        running: &[i64],
        locked_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        let ids = serde_json::to_string(running).unwrap_or_else(|_| "[]".into());
        conn.execute(
            "UPDATE job_queue SET status = 'pending', lock_by = NULL, lock_at = NULL,
                    last_error = 'its worker had lost track of it (the database was away); requeued'
             WHERE status = 'running' AND lock_by = ?1 AND lock_at < ?2
               AND id NOT IN (SELECT value FROM json_each(?3))",
            libsql::params![worker, format_db(locked_before.naive_utc()), ids],
        )
        .await
        .context("cannot requeue jobs a worker lost track of")
    }

    /// Jobs held by workers not seen since `stale_before` (crashed or killed) go back to the
    /// queue, and their runs are recorded as failed. Returns how many were recovered.
    pub async fn recover_orphans(&self, stale_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot recover orphaned jobs";
        let stale = format_db(stale_before.naive_utc());
        let mut rows = conn
            .query(
                "UPDATE job_queue SET status = 'pending', lock_by = NULL, lock_at = NULL,
                        last_error = 'the worker running it stopped (crash or kill); requeued'
                 WHERE status = 'running'
                   AND (lock_by IS NULL OR lock_by NOT IN (SELECT id FROM queue_workers WHERE last_seen >= ?1))
                 RETURNING id",
                [stale.clone()],
            )
            .await
            .context(ctx)?;
        let mut recovered = Vec::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            recovered.push(row.get::<i64>(0).context(ctx)?);
        }
        drop(rows);
        // By queue id: another process may be running the same (batch, job) right now.
        for id in &recovered {
            conn.execute(
                "UPDATE job_runs SET status = 'failed', finished_at = ?2,
                        error = 'the worker running it stopped (crash or kill); the job was requeued'
                 WHERE status = 'running' AND queue_id = ?1",
                libsql::params![*id, now()],
            )
            .await
            .context(ctx)?;
        }
        conn.execute("DELETE FROM queue_workers WHERE last_seen < ?1", [stale])
            .await
            .context(ctx)?;
        Ok(recovered.len() as u64)
    }

    /// Takes the lease `name` for `holder` until `until`, if nobody holds it now (a holder
    /// past its time holds nothing). Exactly one of several machines asking at once gets it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot take a lease";
        let mut rows = conn
            .query(
                "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                 WHERE leases.until <= ?4
                 RETURNING holder",
                libsql::params![
                    name,
                    holder,
                    format_db(until.naive_utc()),
                    format_db(Utc::now().naive_utc())
                ],
            )
            .await
            .context(ctx)?;
        Ok(rows.next().await.context(ctx)?.is_some())
    }

    pub async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read the queue depth";
        let mut rows = conn
            .query(
                "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'running'), 0), COALESCE(SUM(status = 'failed'), 0) FROM job_queue",
                (),
            )
            .await
            .context(ctx)?;
        let Some(row) = rows.next().await.context(ctx)? else {
            return Ok(QueueDepth::default());
        };
        Ok(QueueDepth {
            pending: row.get::<i64>(0).context(ctx)?.max(0) as u64,
            running: row.get::<i64>(1).context(ctx)?.max(0) as u64,
            failed: row.get::<i64>(2).context(ctx)?.max(0) as u64,
        })
    }

    /// One queued job.
    pub async fn queue_entry(&self, id: i64) -> Result<Option<QueueEntry>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read a queued job";
        let mut rows = conn
            .query(
                &format!("SELECT {QUEUE_COLUMNS} FROM job_queue WHERE id = ?1"),
                [id],
            )
            .await
            .context(ctx)?;
        match rows.next().await.context(ctx)? {
            Some(row) => Ok(Some(entry_from_row(&row, ctx)?)),
            None => Ok(None),
        }
    }

    /// Jobs waiting or running, oldest first.
    pub async fn active_queue(&self, limit: u32) -> Result<Vec<QueueEntry>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read the queue";
        let mut rows = conn
            .query(
                &format!(
                    "SELECT {QUEUE_COLUMNS} FROM job_queue WHERE status IN ('pending', 'running') ORDER BY id LIMIT ?1"
                ),
                [i64::from(limit)],
            )
            .await
            .context(ctx)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            out.push(entry_from_row(&row, ctx)?);
        }
        Ok(out)
    }

    /// The waiting job of (batch, job), if one is queued, made runnable now (it may have been
    /// waiting out a retry delay): a "run now" joins it instead of queueing a second.
    pub async fn hasten_pending(&self, batch: &str, job: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read the queue";
        let mut rows = conn
            .query(
                "UPDATE job_queue SET run_after = MIN(run_after, ?3)
                 WHERE id = (SELECT id FROM job_queue WHERE batch = ?1 AND job = ?2 AND status = 'pending' ORDER BY id LIMIT 1)
                 RETURNING id",
                libsql::params![batch, job, now()],
            )
            .await
            .context(ctx)?;
        first_id(&mut rows, ctx).await
    }

    /// Worker processes that have reported, most recent first.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read the workers";
        let mut rows = conn
            .query(
                "SELECT id, started_at, last_seen FROM queue_workers ORDER BY last_seen DESC LIMIT 50",
                (),
            )
            .await
            .context(ctx)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            let started: String = row.get(1).context(ctx)?;
            let seen: String = row.get(2).context(ctx)?;
            out.push(WorkerInfo {
                id: row.get(0).context(ctx)?,
                started_at: parse_lenient(&started).unwrap_or_default(),
                last_seen: parse_lenient(&seen).unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
