//! The `job_runs` table: one row per job run, opened when it starts and closed with its
//! outcome, so the admin panel and `/metrics` can show what ran, when and how it went.

use chrono::{NaiveDateTime, Utc};

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
}

/// The outcome written when a run ends.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub rows_read: u64,
    pub rows_written: u64,
    pub error: Option<String>,
    pub log: String,
}

impl Store {
    /// Records that a run started; returns its id.
    pub async fn start_run(
        &self,
        batch: &str,
        job: &str,
        trigger: &str,
    ) -> Result<i64, StoreError> {
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                "INSERT INTO job_runs (batch, job, trigger, status, started_at) VALUES (?1, ?2, ?3, 'running', ?4) RETURNING id",
                libsql::params![batch, job, trigger, format_db(Utc::now().naive_utc())],
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

    /// Runs left `running` by a process that died are marked failed (called at start-up).
    pub async fn fail_abandoned_runs(&self, reason: &str) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "UPDATE job_runs SET status = 'failed', finished_at = ?1, error = ?2 WHERE status = 'running'",
            libsql::params![format_db(Utc::now().naive_utc()), reason],
        )
        .await
        .context("cannot mark abandoned runs")
    }

    /// The newest runs, optionally of one batch, newest first.
    pub async fn recent_runs(
        &self,
        batch: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobRun>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read run history";
        let mut rows = conn
            .query(
                "SELECT id, batch, job, trigger, status, started_at, finished_at, rows_read, rows_written, error, log
                 FROM job_runs WHERE (?1 IS NULL OR batch = ?1) ORDER BY id DESC LIMIT ?2",
                libsql::params![batch, i64::from(limit)],
            )
            .await
            .context(ctx)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            let parse_ts = |s: Option<String>| s.and_then(|s| crate::timestamp::parse_lenient(&s));
            out.push(JobRun {
                id: row.get(0).context(ctx)?,
                batch: row.get(1).context(ctx)?,
                job: row.get(2).context(ctx)?,
                trigger: row.get(3).context(ctx)?,
                status: RunStatus::parse(&row.get::<String>(4).context(ctx)?)
                    .unwrap_or(RunStatus::Failed),
                started_at: parse_ts(row.get::<Option<String>>(5).context(ctx)?)
                    .unwrap_or_default(),
                finished_at: parse_ts(row.get::<Option<String>>(6).context(ctx)?),
                rows_read: row.get::<i64>(7).context(ctx)?.max(0) as u64,
                rows_written: row.get::<i64>(8).context(ctx)?.max(0) as u64,
                error: row.get(9).context(ctx)?,
                log: row.get(10).context(ctx)?,
            });
        }
        Ok(out)
    }
}
