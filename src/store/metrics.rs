//! The long metrics table: typed rows, idempotent upserts, and the windowed reads jobs and
//! pages need. One table per `table_key` (default `metrics`), all with the same shape.

use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;

use chrono::NaiveDateTime;
use libsql::{Connection, Value};

use super::Store;
use super::error::{SqlContext, StoreError};
use super::migrations::MIGRATIONS;
use crate::config::is_identifier;
use crate::timestamp::{format_db, parse_lenient};

/// What a row of the metrics table holds (the `metric_type` column; a public contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    Metric,
    Score,
    Alert,
    Change,
    LlmAlert,
    TholdAlert,
    ThumbsUp,
    ThumbsDown,
}

impl MetricType {
    pub const ALL: [MetricType; 8] = [
        MetricType::Metric,
        MetricType::Score,
        MetricType::Alert,
        MetricType::Change,
        MetricType::LlmAlert,
        MetricType::TholdAlert,
        MetricType::ThumbsUp,
        MetricType::ThumbsDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Metric => "metric",
            MetricType::Score => "score",
            MetricType::Alert => "alert",
            MetricType::Change => "change",
            MetricType::LlmAlert => "llmalert",
            MetricType::TholdAlert => "tholdalert",
            MetricType::ThumbsUp => "thumbsup",
            MetricType::ThumbsDown => "thumbsdown",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown metric_type `{s}`"))
    }
}

/// One row of the metrics table.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// UTC, whole seconds.
    pub timestamp: NaiveDateTime,
    pub batch: String,
    pub name: String,
    pub metric_type: MetricType,
    pub value: f64,
    /// JSON text or empty.
    pub metadata: String,
}

/// How many rows an upsert wrote (inserted or replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpsertReport {
    pub written: usize,
}

/// The newest `max_n` rows of one type for every metric of a batch, optionally bounded in time.
#[derive(Debug, Clone)]
pub struct WindowQuery<'a> {
    pub table: &'a str,
    pub batch: &'a str,
    pub metric_type: MetricType,
    pub max_n: usize,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

const COLUMNS: &str =
    "metric_timestamp, metric_batch, metric_name, metric_type, metric_value, metadata";
/// Rows per INSERT statement in a local file: 6 parameters each, well under SQLite's parameter
/// limit; a prepared statement of this size, reused, is the fastest there.
const ROWS_PER_STATEMENT: usize = 150;
/// Over the network each statement is a round trip: as many rows as the limit allows (32766
/// parameters), so a job's writes take a few round trips however many metrics it scores.
const ROWS_PER_REMOTE_STATEMENT: usize = 5000;

impl Store {
    /// Creates a metrics table named `table` (same shape as `metrics`) unless it exists.
    pub async fn ensure_metrics_table(&self, table: &str) -> Result<(), StoreError> {
        check_table(table)?;
        if self.known_table(table) {
            return Ok(());
        }
        let conn = self.connect().await?;
        // Usually there: no DDL (over the network, a write round trip to the primary).
        if super::adopt::keyed(&conn, table).await? {
            if let Ok(mut tables) = self.inner.tables.lock() {
                tables.insert(table.to_owned());
            }
            return Ok(());
        }
        let ddl = metrics_table_ddl(table);
        if let Some(adopted) = super::adopt::adopt_if_needed(&conn, table, &ddl).await? {
            tracing::info!(
                table,
                rows_before = adopted.rows_before,
                rows_kept = adopted.rows_kept,
                duplicates_merged = adopted.merged(),
                rows_incomplete = adopted.rows_incomplete,
                "metrics table made without a unique key (by the original Anomstack) taken over: \
                 {} duplicate row(s) merged, the newest of each kept",
                adopted.merged()
            );
        }
        conn.execute_batch(&ddl)
            .await
            .context(format!("cannot create metrics table `{table}`"))?;
        if let Ok(mut tables) = self.inner.tables.lock() {
            tables.insert(table.to_owned());
        }
        Ok(())
    }

    fn known_table(&self, table: &str) -> bool {
        self.inner
            .tables
            .lock()
            .map(|t| t.contains(table))
            .unwrap_or(false)
    }

    /// Writes rows in one transaction. A row that already exists (same batch, metric, type and
    /// timestamp) gets the new value and metadata, so writing the same rows twice keeps one copy.
    pub async fn upsert_metrics(
        &self,
        table: &str,
        rows: &[MetricRow],
    ) -> Result<UpsertReport, StoreError> {
        for (i, row) in rows.iter().enumerate() {
            if !row.value.is_finite() {
                return Err(StoreError::BadRow {
                    context: format!("cannot store metrics in `{table}`"),
                    row: i + 1,
                    reason: format!(
                        "value of `{}` at {} is not a finite number",
                        row.name, row.timestamp
                    ),
                });
            }
        }
        if rows.is_empty() {
            return Ok(UpsertReport::default());
        }
        // SQLite refuses an upsert that touches one key twice in a statement; the last copy of
        // a key wins, as it would across statements.
        let mut last: std::collections::HashMap<(&str, &str, MetricType, NaiveDateTime), usize> =
            std::collections::HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            last.insert((&r.batch, &r.name, r.metric_type, r.timestamp), i);
        }
        let deduped: Vec<MetricRow>;
        let rows: &[MetricRow] = if last.len() == rows.len() {
            rows
        } else {
            let mut keep: Vec<usize> = last.into_values().collect();
            keep.sort_unstable();
            deduped = keep.into_iter().map(|i| rows[i].clone()).collect();
            &deduped
        };
        self.ensure_metrics_table(table).await?;
        let conn = self.connect().await?;
        let ctx = || format!("cannot store metrics in `{table}`");
        let tx = conn.transaction().await.context(ctx())?;
        let per_statement = if self.is_local_file() {
            ROWS_PER_STATEMENT
        } else {
            ROWS_PER_REMOTE_STATEMENT
        };
        let full_sql = upsert_sql(table, per_statement);
        let mut full = None;
        for chunk in rows.chunks(per_statement) {
            let params = chunk_params(chunk);
            if chunk.len() == per_statement {
                if full.is_none() {
                    full = Some(conn.within(tx.prepare(&full_sql)).await.context(ctx())?);
                }
                if let Some(stmt) = full.as_mut() {
                    conn.within(stmt.execute(params)).await.context(ctx())?;
                    stmt.reset();
                }
            } else {
                conn.within(tx.execute(&upsert_sql(table, chunk.len()), params))
                    .await
                    .context(ctx())?;
            }
        }
        drop(full);
        conn.within(tx.commit()).await.context(ctx())?;
        let mut batches: Vec<&str> = rows.iter().map(|r| r.batch.as_str()).collect();
        batches.sort_unstable();
        batches.dedup();
        self.wrote_batches(table, batches.into_iter());
        Ok(UpsertReport {
            written: rows.len(),
        })
    }

    /// The newest rows per metric; see [`WindowQuery`]. Ordered by metric, then time.
    /// Whether `batch` has any row in `table` (a new deployment has none).
    pub async fn batch_has_rows(&self, table: &str, batch: &str) -> Result<bool, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let conn = self.connect().await?;
        let ctx = "cannot look for a batch's rows";
        let mut rows = conn
            .query(
                &format!("SELECT 1 FROM {table} WHERE metric_batch = ?1 LIMIT 1"),
                [batch],
            )
            .await
            .context(ctx)?;
        Ok(rows.next().await.context(ctx)?.is_some())
    }

    pub async fn metric_window(&self, q: &WindowQuery<'_>) -> Result<Vec<MetricRow>, StoreError> {
        check_table(q.table)?;
        self.ensure_metrics_table(q.table).await?;
        let sql = format!(
            "SELECT metric_timestamp, metric_name, metric_type, metric_value, metadata FROM (
                SELECT metric_timestamp, metric_name, metric_type, metric_value, metadata,
                       ROW_NUMBER() OVER (PARTITION BY metric_name ORDER BY metric_timestamp DESC) AS rn
                FROM {table}
                WHERE metric_batch = ?1 AND metric_type = ?2
                  AND metric_timestamp >= ?3 AND metric_timestamp <= ?4
            ) WHERE rn <= ?5
            ORDER BY metric_name, metric_timestamp",
            table = q.table
        );
        let since = q.since.map(format_db).unwrap_or_default();
        let until = q
            .until
            .map(format_db)
            .unwrap_or_else(|| "9999-12-31 23:59:59".into());
        let conn = self.connect().await?;
        read_long_rows(
            &conn,
            &sql,
            libsql::params![
                q.batch,
                q.metric_type.as_str(),
                since,
                until,
                i64::try_from(q.max_n).unwrap_or(i64::MAX)
            ],
            q.batch,
            &format!(
                "cannot read the {} window of batch `{}`",
                q.metric_type, q.batch
            ),
        )
        .await
    }

    /// Runs a rendered read template (such as `train_sql`) that returns long rows:
    /// `metric_timestamp, metric_name, metric_value` and optionally `metric_type`, `metadata`.
    pub async fn query_long_rows(
        &self,
        batch: &str,
        sql: &str,
        context: &str,
    ) -> Result<Vec<MetricRow>, StoreError> {
        let conn = self.connect().await?;
        read_long_rows(&conn, sql, (), batch, context).await
    }

    /// Compiles `sql` without running it (local databases only; a remote one accepts anything
    /// until it runs). Used to check templates against the real schema.
    pub async fn check_sql(&self, sql: &str) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.prepare(sql).await.context("invalid SQL")?;
        Ok(())
    }
}

pub(super) fn check_table(table: &str) -> Result<(), StoreError> {
    if is_identifier(table) {
        Ok(())
    } else {
        Err(StoreError::InvalidTable(table.to_owned()))
    }
}

/// A recursive CTE `names(n)` walking the metric names of batch `?1` in `table` one index
/// seek each (a skip scan), ending with a NULL row; `table` must be checked.
pub(super) fn metric_names_cte(table: &str) -> String {
    format!(
        "names(n) AS (
           SELECT min(metric_name) FROM {table} WHERE metric_batch = ?1 AND metric_type = 'metric'
           UNION ALL
           SELECT (SELECT min(x.metric_name) FROM {table} AS x
                   WHERE x.metric_batch = ?1 AND x.metric_type = 'metric' AND x.metric_name > names.n)
           FROM names WHERE n IS NOT NULL
         )"
    )
}

/// The DDL of migration 1, for a table of another name.
fn metrics_table_ddl(table: &str) -> String {
    MIGRATIONS[0].sql.replace(
        "CREATE TABLE IF NOT EXISTS metrics (",
        &format!("CREATE TABLE IF NOT EXISTS {table} ("),
    )
}

fn upsert_sql(table: &str, rows: usize) -> String {
    let tuple = "(?, ?, ?, ?, ?, ?)";
    let values = vec![tuple; rows].join(", ");
    format!(
        "INSERT INTO {table} ({COLUMNS}) VALUES {values}
         ON CONFLICT (metric_batch, metric_type, metric_name, metric_timestamp)
         DO UPDATE SET metric_value = excluded.metric_value, metadata = excluded.metadata"
    )
}

fn chunk_params(chunk: &[MetricRow]) -> Vec<Value> {
    let mut params = Vec::with_capacity(chunk.len() * 6);
    for row in chunk {
        params.push(Value::Text(format_db(row.timestamp)));
        params.push(Value::Text(row.batch.clone()));
        params.push(Value::Text(row.name.clone()));
        params.push(Value::Text(row.metric_type.as_str().to_owned()));
        params.push(Value::Real(row.value));
        params.push(Value::Text(row.metadata.clone()));
    }
    params
}

async fn read_long_rows(
    conn: &Connection,
    sql: &str,
    params: impl libsql::params::IntoParams,
    batch: &str,
    context: &str,
) -> Result<Vec<MetricRow>, StoreError> {
    let mut out = Vec::new();
    visit_long_rows(conn, sql, params, context, |row| {
        out.push(MetricRow {
            timestamp: row.timestamp,
            batch: batch.to_owned(),
            name: row.name,
            metric_type: row.metric_type,
            value: row.value,
            metadata: row.metadata,
        });
        ControlFlow::Continue(())
    })
    .await?;
    Ok(out)
}

/// A row of a long-format query as read, before it is stored anywhere.
struct LongRow {
    timestamp: NaiveDateTime,
    name: String,
    metric_type: MetricType,
    value: f64,
    metadata: String,
}

/// Runs a query returning long-format rows (`metric_timestamp`, `metric_name`,
/// `metric_value`, optionally `metric_type` and `metadata`, matched case-insensitively) and
/// hands each row to `visit` as it arrives; a row that cannot be read fails the query with
/// its number.
async fn visit_long_rows(
    conn: &Connection,
    sql: &str,
    params: impl libsql::params::IntoParams,
    context: &str,
    mut visit: impl FnMut(LongRow) -> ControlFlow<()>,
) -> Result<usize, StoreError> {
    let mut rows = conn.query(sql, params).await.context(context)?;
    let column = |name: &str| {
        (0..rows.column_count()).find(|&i| {
            rows.column_name(i)
                .is_some_and(|c| c.eq_ignore_ascii_case(name))
        })
    };
    let bad = |row: usize, reason: String| StoreError::BadRow {
        context: context.to_owned(),
        row,
        reason,
    };
    let (Some(ts_col), Some(name_col), Some(value_col)) = (
        column("metric_timestamp"),
        column("metric_name"),
        column("metric_value"),
    ) else {
        return Err(bad(
            0,
            "the query must return metric_timestamp, metric_name and metric_value columns".into(),
        ));
    };
    let type_col = column("metric_type");
    let meta_col = column("metadata");

    let mut n = 0;
    while let Some(row) = rows.next().await.context(context)? {
        n += 1;
        let ts_text = text_of(row.get_value(ts_col).context(context)?);
        let timestamp = ts_text
            .as_deref()
            .and_then(parse_lenient)
            .ok_or_else(|| bad(n, format!("unreadable metric_timestamp {ts_text:?}")))?;
        let name = text_of(row.get_value(name_col).context(context)?)
            .ok_or_else(|| bad(n, "metric_name is empty".into()))?;
        let value = match row.get_value(value_col).context(context)? {
            Value::Real(v) => v,
            Value::Integer(v) => v as f64,
            other => return Err(bad(n, format!("metric_value is not a number: {other:?}"))),
        };
        let metric_type = match type_col {
            Some(i) => {
                let text = text_of(row.get_value(i).context(context)?).unwrap_or_default();
                text.parse().map_err(|e: String| bad(n, e))?
            }
            None => MetricType::Metric,
        };
        let metadata = match meta_col {
            Some(i) => text_of(row.get_value(i).context(context)?).unwrap_or_default(),
            None => String::new(),
        };
        let flow = visit(LongRow {
            timestamp,
            name,
            metric_type,
            value,
            metadata,
        });
        if flow.is_break() {
            break;
        }
    }
    Ok(n)
}

/// One metric's values as `(unix seconds, value)`, oldest first.
pub type Series = (String, Vec<(i64, f64)>);

impl Store {
    /// Like [`Store::query_long_rows`], keeping only `metric` rows, per metric as compact
    /// series sorted by name: a training window of a million points takes 16 MB this way,
    /// rather than a long row each.
    pub async fn query_series(&self, sql: &str, context: &str) -> Result<Vec<Series>, StoreError> {
        let conn = self.connect().await?;
        let mut series: Vec<Series> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        let mut last: Option<usize> = None;
        let rows = visit_long_rows(&conn, sql, (), context, |row| {
            if row.metric_type != MetricType::Metric {
                return ControlFlow::Continue(());
            }
            let point = (row.timestamp.and_utc().timestamp(), row.value);
            // Rows usually come grouped by metric: check the last one before hashing.
            let at = match last {
                Some(i) if series[i].0 == row.name => i,
                _ => *index.entry(row.name.clone()).or_insert_with(|| {
                    series.push((row.name, Vec::new()));
                    series.len() - 1
                }),
            };
            series[at].1.push(point);
            last = Some(at);
            ControlFlow::Continue(())
        })
        .await?;
        let _ = rows;
        for (_, points) in &mut series {
            sort_points(points);
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(series)
    }

    /// Like [`Store::query_series`], handing each metric's series to `emit` as soon as its
    /// rows end, so its work can start while the rest is read, when the query returns every
    /// metric's rows together (as the default windows do). Returns whether it did: at the
    /// first metric whose rows resume after another's, emitting stops and `false` tells the
    /// caller that what it got was partial ([`Store::query_series`] reads any order).
    pub async fn stream_series(
        &self,
        sql: &str,
        context: &str,
        mut emit: impl FnMut(Series),
    ) -> Result<bool, StoreError> {
        let conn = self.connect().await?;
        let mut current: Option<Series> = None;
        let mut finished: std::collections::HashSet<String> = Default::default();
        let mut grouped = true;
        visit_long_rows(&conn, sql, (), context, |row| {
            if row.metric_type != MetricType::Metric {
                return ControlFlow::Continue(());
            }
            let point = (row.timestamp.and_utc().timestamp(), row.value);
            match &mut current {
                Some((name, points)) if *name == row.name => points.push(point),
                _ => {
                    if finished.contains(&row.name) {
                        grouped = false;
                        return ControlFlow::Break(());
                    }
                    if let Some((name, mut points)) = current.take() {
                        finished.insert(name.clone());
                        sort_points(&mut points);
                        emit((name, points));
                    }
                    current = Some((row.name, vec![point]));
                }
            }
            ControlFlow::Continue(())
        })
        .await?;
        if grouped && let Some((name, mut points)) = current {
            sort_points(&mut points);
            emit((name, points));
        }
        Ok(grouped)
    }
}

fn sort_points(points: &mut [(i64, f64)]) {
    if !points.is_sorted_by_key(|p| p.0) {
        points.sort_by_key(|p| p.0);
    }
}

fn text_of(value: Value) -> Option<String> {
    match value {
        Value::Text(s) if !s.is_empty() => Some(s),
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_tables_get_the_same_ddl() {
        let ddl = metrics_table_ddl("metrics_github");
        assert!(ddl.contains("CREATE TABLE IF NOT EXISTS metrics_github ("));
        assert!(!ddl.contains("EXISTS metrics ("));
    }

    #[test]
    fn metric_types_round_trip() {
        for t in MetricType::ALL {
            assert_eq!(t.as_str().parse::<MetricType>(), Ok(t));
        }
        assert!("bogus".parse::<MetricType>().is_err());
    }
}
