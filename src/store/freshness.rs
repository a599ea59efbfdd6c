//! What the freshness checks read: each metric's newest arrival times, the freshness state
//! the jobs recorded last (`stale` rows), and how many rows a batch's recent ingests stored.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::Store;
use super::error::{SqlContext, StoreError};
use super::metrics::check_table;
use super::row::{columns, real, text, wide};
use crate::timestamp::parse_lenient;

/// The freshness state recorded last for a metric ("" for the batch itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleState {
    /// When the state was recorded (the run time of the check).
    pub at: NaiveDateTime,
    pub stale: bool,
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
            "WITH RECURSIVE names(n) AS (
               SELECT min(metric_name) FROM {table} WHERE metric_batch = ?1 AND metric_type = 'metric'
               UNION ALL
               SELECT (SELECT min(x.metric_name) FROM {table} AS x
                       WHERE x.metric_batch = ?1 AND x.metric_type = 'metric' AND x.metric_name > names.n)
               FROM names WHERE n IS NOT NULL
             ),
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
            offset = n.max(1) - 1
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

    /// The freshness state each metric of `batch` (and the batch, as "") was left in.
    pub async fn stale_states(
        &self,
        table: &str,
        batch: &str,
    ) -> Result<BTreeMap<String, StaleState>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        // SQLite takes the other columns of a max() aggregate from the row holding the max.
        let sql = format!(
            "SELECT metric_name, max(metric_timestamp), metric_value FROM {table}
             WHERE metric_batch = ?1 AND metric_type = 'stale' GROUP BY metric_name"
        );
        let context = format!("cannot read the freshness of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn.query(&sql, [batch]).await.context(&context)?;
        let mut out = BTreeMap::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 3, &context)?;
            if let (Some(name), Some(at)) = (
                text(values[0].clone()),
                text(values[1].clone()).as_deref().and_then(parse_lenient),
            ) {
                let stale = real(&values[2]).is_some_and(|v| v > 0.0);
                out.insert(name, StaleState { at, stale });
            }
        }
        Ok(out)
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
