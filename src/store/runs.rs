//! The `job_runs` table: one row per job run, opened when it starts and closed with its
//! outcome, so the admin panel and `/metrics` can show what ran, when and how it went.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::Store;
use super::error::{SqlContext, StoreError};
use crate::timestamp::format_db;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::TimedOut,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub id: i64,
    pub batch: String,
    pub job: String,
    pub trigger: String,
    pub status: RunStatus,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub error: Option<String>,
    pub log: String,
    /// The queued job it came from (none for CLI runs).
    pub queue_id: Option<i64>,
}

impl JobRun {
    /// Why a finished run wrote nothing: the last line its job logged (jobs end with the
    /// reason: no rows in the window, every metric too young, disabled...). `None` when it
    /// wrote rows, failed (its error says why) or is still running.
    pub fn why_nothing(&self) -> Option<&str> {
        if self.rows_written > 0 || self.status != RunStatus::Succeeded {
            return None;
        }
        self.log.lines().rev().find(|l| {
            !l.starts_with("skipped ") && !l.starts_with("notice: ") && !l.trim().is_empty()
        })
    }

    /// Wall time, once finished.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.finished_at.map(|end| end - self.started_at)
    }
}

/// Which runs to list; empty fields match every run.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub batch: Option<String>,
    pub job: Option<String>,
    pub status: Option<RunStatus>,
    pub trigger: Option<String>,
    /// Only runs older than this id (the next page).
    pub before_id: Option<i64>,
    pub queue_id: Option<i64>,
}

const RUN_COLUMNS: &str = "id, batch, job, trigger, status, started_at, finished_at, rows_read, rows_written, error, log, queue_id";

/// The outcome written when a run ends.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub rows_read: u64,
    pub rows_written: u64,
    pub error: Option<String>,
    pub log: String,
}

/// Rows deleted per statement when pruning.
const PRUNE_SLICE: u64 = 5000;

/// What one pass of [`Store::prune_history`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub runs: u64,
    pub queue: u64,
    pub notifications: u64,
}

impl Store {
    /// Records that a run started; returns its id.
    pub async fn start_run(
        &self,
        batch: &str,
        job: &str,
        trigger: &str,
        queue_id: Option<i64>,
    ) -> Result<i64, StoreError> {
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                "INSERT INTO job_runs (batch, job, trigger, status, started_at, queue_id) VALUES (?1, ?2, ?3, 'running', ?4, ?5) RETURNING id",
                libsql::params![batch, job, trigger, format_db(Utc::now().naive_utc()), queue_id],
            )
            .await
            .context("cannot record the start of a run")?;
        let id = match rows
            .next()
            .await
            .context("cannot record the start of a run")?
        {
            Some(row) => row.get::<i64>(0).context("cannot read the run id")?,
            None => 0,
        };
        Ok(id)
    }

    /// Records how a run ended.
    pub async fn finish_run(
        &self,
        id: i64,
        status: RunStatus,
        outcome: &RunOutcome,
    ) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "UPDATE job_runs SET status = ?2, finished_at = ?3, rows_read = ?4, rows_written = ?5, error = ?6, log = ?7 WHERE id = ?1",
            libsql::params![
                id,
                status.as_str(),
                format_db(Utc::now().naive_utc()),
                outcome.rows_read as i64,
                outcome.rows_written as i64,
                outcome.error.clone(),
                outcome.log.clone()
            ],
        )
        .await
        .context("cannot record the end of a run")?;
        Ok(())
    }

    /// Records that run `id` is still being worked on.
    pub async fn beat_run(&self, id: i64) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "UPDATE job_runs SET heartbeat_at = ?2 WHERE id = ?1 AND status = 'running'",
            libsql::params![id, format_db(Utc::now().naive_utc())],
        )
        .await
        .context("cannot record a run's heartbeat")?;
        Ok(())
    }

    /// Runs outside the queue (pushes, `anomstack run`, backfills) still `running` without a
    /// heartbeat (or a start, for a run too young to beat) since `silent_before`: their process
    /// died without recording an end. They are marked failed with `reason`; what they stored
    /// stays. Queued runs are ended (and their jobs requeued) by the queue's own recovery.
    /// Returns how many.
    pub async fn fail_silent_runs(
        &self,
        silent_before: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "UPDATE job_runs SET status = 'failed', finished_at = ?1, error = ?2
             WHERE status = 'running' AND queue_id IS NULL
               AND coalesce(heartbeat_at, started_at) < ?3",
            libsql::params![
                format_db(Utc::now().naive_utc()),
                reason,
                format_db(silent_before.naive_utc())
            ],
        )
        .await
        .context("cannot mark runs of stopped processes")
    }

    /// Deletes run history, finished queue entries and the notification log older than
    /// `before`, in slices so a large backlog never holds the database's write lock for long.
    pub async fn prune_history(&self, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let cutoff = format_db(before.naive_utc());
        let slice = |table: &str, condition: &str| {
            format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {condition} LIMIT {PRUNE_SLICE})"
            )
        };
        Ok(Pruned {
            runs: self
                .delete_in_slices(
                    &slice("job_runs", "status != 'running' AND started_at < ?1"),
                    &cutoff,
                )
                .await?,
            queue: self
                .delete_in_slices(
                    &slice(
                        "job_queue",
                        "status IN ('done', 'failed') AND COALESCE(finished_at, created_at) < ?1",
                    ),
                    &cutoff,
                )
                .await?,
            notifications: self
                .delete_in_slices(&slice("notifications", "created_at < ?1"), &cutoff)
                .await?,
        })
    }

    async fn delete_in_slices(&self, sql: &str, cutoff: &str) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        let mut total = 0;
        loop {
            let n = conn
                .execute(sql, [cutoff])
                .await
                .context("cannot prune history")?;
            total += n;
            if n < PRUNE_SLICE {
                return Ok(total);
            }
            // Let other writers (the jobs) in between slices.
            tokio::task::yield_now().await;
        }
    }

    /// The newest runs, optionally of one batch, newest first.
    pub async fn recent_runs(
        &self,
        batch: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobRun>, StoreError> {
        let filter = RunFilter {
            batch: batch.map(str::to_owned),
            ..RunFilter::default()
        };
        self.runs(&filter, limit).await
    }

    /// Runs matching `filter`, newest first.
    pub async fn runs(&self, filter: &RunFilter, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read run history";
        let mut rows = conn
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM job_runs
                     WHERE (?1 IS NULL OR batch = ?1) AND (?2 IS NULL OR job = ?2) AND (?3 IS NULL OR status = ?3)
                       AND (?4 IS NULL OR trigger = ?4) AND (?5 IS NULL OR id < ?5) AND (?6 IS NULL OR queue_id = ?6)
                     ORDER BY id DESC LIMIT ?7"
                ),
                libsql::params![
                    filter.batch.clone(),
                    filter.job.clone(),
                    filter.status.map(RunStatus::as_str),
                    filter.trigger.clone(),
                    filter.before_id,
                    filter.queue_id,
                    i64::from(limit)
                ],
            )
            .await
            .context(ctx)?;
        runs_from(&mut rows, ctx).await
    }

    pub async fn run(&self, id: i64) -> Result<Option<JobRun>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read a run";
        let mut rows = conn
            .query(
                &format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE id = ?1"),
                [id],
            )
            .await
            .context(ctx)?;
        match rows.next().await.context(ctx)? {
            Some(row) => Ok(Some(run_from_row(&row, ctx)?)),
            None => Ok(None),
        }
    }

    /// The latest run of each (batch, job), for the admin's job tables.
    pub async fn last_runs(&self, batch: &str) -> Result<Vec<JobRun>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read the last runs";
        let mut rows = conn
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM job_runs WHERE id IN (SELECT MAX(id) FROM job_runs WHERE batch = ?1 GROUP BY job)"
                ),
                [batch],
            )
            .await
            .context(ctx)?;
        runs_from(&mut rows, ctx).await
    }
}

/// Every run `rows` holds (selected as [`RUN_COLUMNS`]).
async fn runs_from(rows: &mut libsql::Rows, ctx: &str) -> Result<Vec<JobRun>, StoreError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().await.context(ctx)? {
        out.push(run_from_row(&row, ctx)?);
    }
    Ok(out)
}

fn run_from_row(row: &libsql::Row, ctx: &str) -> Result<JobRun, StoreError> {
    let parse_ts = |s: Option<String>| s.and_then(|s| crate::timestamp::parse_lenient(&s));
    Ok(JobRun {
        id: row.get(0).context(ctx)?,
        batch: row.get(1).context(ctx)?,
        job: row.get(2).context(ctx)?,
        trigger: row.get(3).context(ctx)?,
        status: RunStatus::parse(&row.get::<String>(4).context(ctx)?).unwrap_or(RunStatus::Failed),
        started_at: parse_ts(row.get::<Option<String>>(5).context(ctx)?).unwrap_or_default(),
        finished_at: parse_ts(row.get::<Option<String>>(6).context(ctx)?),
        rows_read: row.get::<i64>(7).context(ctx)?.max(0) as u64,
        rows_written: row.get::<i64>(8).context(ctx)?.max(0) as u64,
        error: row.get(9).context(ctx)?,
        log: row.get(10).context(ctx)?,
        queue_id: row.get(11).context(ctx)?,
    })
}
