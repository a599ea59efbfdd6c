//! What the freshness checks read and write: each metric's newest arrival times, its
//! freshness state (the `freshness` table: stale or not, since when), and how many rows a
//! batch's recent ingests stored.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::Store;
use super::error::{SqlContext, StoreError};
use super::metrics::{check_table, metric_names_cte};
use super::row::{columns, text, wide};
use crate::timestamp::{format_db, parse_lenient};

/// The freshness state of a metric ("" for the batch's ingest itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleState {
    /// When the state last changed (the run time of the check that changed it).
    pub at: NaiveDateTime,
    pub stale: bool,
}

/// A change of state to record: `metric` ("" for the batch) became stale or fresh at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub metric: String,
    pub stale: bool,
    pub at: NaiveDateTime,
    pub last_seen: Option<NaiveDateTime>,
    pub interval_seconds: Option<i64>,
}

impl Store {
    /// The newest `n` timestamps of each metric of `batch`, oldest first. One key-range seek
    /// per metric, so the cost follows the metrics, not the history.
    pub async fn recent_arrivals(
        &self,
        table: &str,
        batch: &str,
        n: usize,
    ) -> Result<BTreeMap<String, Vec<NaiveDateTime>>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let sql = format!(
            "WITH RECURSIVE {names},
             cut AS (
               SELECT n, coalesce((SELECT s.metric_timestamp FROM {table} AS s
                  WHERE s.metric_batch = ?1 AND s.metric_type = 'metric' AND s.metric_name = n
                  ORDER BY s.metric_timestamp DESC LIMIT 1 OFFSET {offset}), '') AS since
               FROM names WHERE n IS NOT NULL
             )
             SELECT m.metric_name, m.metric_timestamp FROM cut CROSS JOIN {table} AS m
             WHERE m.metric_batch = ?1 AND m.metric_type = 'metric' AND m.metric_name = cut.n
               AND m.metric_timestamp >= cut.since
             ORDER BY m.metric_name, m.metric_timestamp",
            offset = n.max(1) - 1,
            names = metric_names_cte(table),
        );
        let context = format!("cannot read the arrival times of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn.query(&sql, [batch]).await.context(&context)?;
        let mut out: BTreeMap<String, Vec<NaiveDateTime>> = BTreeMap::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 2, &context)?;
            if let (Some(name), Some(ts)) = (
                text(values[0].clone()),
                text(values[1].clone()).as_deref().and_then(parse_lenient),
            ) {
                out.entry(name).or_default().push(ts);
            }
        }
        Ok(out)
    }

    /// The freshness state of each metric of `batch` (and of the batch, as "") that has one.
    pub async fn stale_states(
        &self,
        batch: &str,
    ) -> Result<BTreeMap<String, StaleState>, StoreError> {
        let context = format!("cannot read the freshness of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                "SELECT metric, changed_at, stale FROM freshness WHERE batch = ?1",
                [batch],
            )
            .await
            .context(&context)?;
        let mut out = BTreeMap::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 3, &context)?;
            if let (Some(name), Some(at)) = (
                text(values[0].clone()),
                text(values[1].clone()).as_deref().and_then(parse_lenient),
            ) {
                out.insert(
                    name,
                    StaleState {
                        at,
                        stale: wide(&values[2]) > 0,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Records a change of state if it still is one: only when the stored state differs and
    /// is older than the change. True when this call made the change (and should tell it);
    /// false when another check made it first.
    pub async fn change_freshness(
        &self,
        batch: &str,
        change: &StateChange,
    ) -> Result<bool, StoreError> {
        let context = format!(
            "cannot record the freshness of `{}` in batch `{batch}`",
            change.metric
        );
        let conn = self.connect().await?;
        let changed = conn
            .execute(
                "INSERT INTO freshness (batch, metric, stale, changed_at, last_seen, interval_seconds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (batch, metric) DO UPDATE SET
                   stale = excluded.stale, changed_at = excluded.changed_at,
                   last_seen = excluded.last_seen, interval_seconds = excluded.interval_seconds
                 WHERE freshness.stale != excluded.stale AND freshness.changed_at <= excluded.changed_at",
                libsql::params![
                    batch,
                    change.metric.as_str(),
                    i64::from(change.stale),
                    format_db(change.at),
                    change.last_seen.map(format_db),
                    change.interval_seconds,
                ],
            )
            .await
            .context(&context)?;
        Ok(changed > 0)
    }

    /// Rows written by the newest `n` successful ingest runs of `batch`, newest first.
    pub async fn recent_ingest_rows(&self, batch: &str, n: u32) -> Result<Vec<u64>, StoreError> {
        let context = format!("cannot read the recent ingests of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                "SELECT rows_written FROM job_runs
                 WHERE batch = ?1 AND job = 'ingest' AND status = 'succeeded'
                 ORDER BY started_at DESC, id DESC LIMIT ?2",
                libsql::params![batch, n],
            )
            .await
            .context(&context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 1, &context)?;
            out.push(wide(&values[0]));
        }
        Ok(out)
    }
}
