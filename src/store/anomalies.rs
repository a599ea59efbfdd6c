//! Anomalies: the flagged points of a batch (one row per point, with every kind that flagged
//! it), when they happened, and people's feedback on them.

use chrono::NaiveDateTime;

use super::Store;
use super::error::{SqlContext, StoreError};
use super::metrics::{MetricType, check_table};
use super::row::{columns, count, real, text, timestamps};
use crate::timestamp::{format_db, parse_lenient};

/// A person's verdict on an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    Up,
    Down,
}

impl Feedback {
    pub fn metric_type(self) -> MetricType {
        match self {
            Feedback::Up => MetricType::ThumbsUp,
            Feedback::Down => MetricType::ThumbsDown,
        }
    }

    pub(super) fn from_type(raw: &str) -> Option<Self> {
        match raw {
            "thumbsup" => Some(Feedback::Up),
            "thumbsdown" => Some(Feedback::Down),
            _ => None,
        }
    }
}

/// One row of the anomaly list: a flagged point and every kind that flagged it.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub metric: String,
    pub timestamp: NaiveDateTime,
    /// What flagged it, in `ANOMALY_KINDS` order; never empty.
    pub flags: Vec<Flag>,
    /// The metric's value at that time, if it is still stored.
    pub value: Option<f64>,
    pub feedback: Option<Feedback>,
}

impl Anomaly {
    /// Its ML alert was over the metric's alert budget: saved, not sent at the time.
    pub fn held(&self) -> bool {
        self.flags.iter().any(|f| {
            f.kind == MetricType::Alert && super::score_notes::score_notes(&f.metadata).over_budget
        })
    }
}

/// One detector's flag on a point, with what it stored (threshold bounds, LLM explanation).
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub kind: MetricType,
    pub metadata: String,
}

/// The kinds of flag that make a point an anomaly, in the order pages list them.
pub const ANOMALY_KINDS: [MetricType; 4] = [
    MetricType::Alert,
    MetricType::TholdAlert,
    MetricType::Change,
    MetricType::LlmAlert,
];

/// A point's flags from `json_group_array(json_array(kind, metadata))`, in kind order.
fn flags_of(json: &str) -> Vec<Flag> {
    let pairs: Vec<(String, String)> = serde_json::from_str(json).unwrap_or_default();
    let mut flags: Vec<Flag> = pairs
        .into_iter()
        .filter_map(|(kind, metadata)| {
            let kind = kind.parse::<MetricType>().ok()?;
            Some(Flag { kind, metadata })
        })
        .collect();
    flags.sort_by_key(|f| ANOMALY_KINDS.iter().position(|k| *k == f.kind));
    flags
}

/// `'alert', 'change'`: kinds as an SQL list (they are fixed names, never user text).
pub(super) fn kinds_sql(kinds: &[MetricType]) -> String {
    kinds
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// A page of a batch's anomalies (flagged points) with a flag of one of `kinds` (any
    /// kind when empty), newest first, and how many there are.
    pub async fn anomalies(
        &self,
        table: &str,
        batch: &str,
        kinds: &[MetricType],
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<Anomaly>, u64), StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let kinds = if kinds.is_empty() {
            &ANOMALY_KINDS[..]
        } else {
            kinds
        };
        let list = kinds_sql(kinds);
        let all = kinds_sql(&ANOMALY_KINDS);
        let points = format!(
            "SELECT metric_timestamp AS ts, metric_name AS name FROM {table}
             WHERE metric_batch = ?1 AND metric_type IN ({list}) AND metric_value > 0
             GROUP BY metric_name, metric_timestamp"
        );
        let context = format!("cannot read the anomalies of batch `{batch}`");
        let conn = self.connect().await?;
        let total = {
            let mut rows = conn
                .query(
                    &format!("SELECT count(*) FROM ({points})"),
                    libsql::params![batch],
                )
                .await
                .context(&context)?;
            match rows.next().await.context(&context)? {
                Some(row) => u64::from(count(&row.get_value(0).context(&context)?)),
                None => 0,
            }
        };
        let sql = format!(
            "SELECT p.ts, p.name,
               (SELECT json_group_array(json_array(a.metric_type, coalesce(a.metadata, '')))
                FROM {table} AS a
                WHERE a.metric_batch = ?1 AND a.metric_type IN ({all}) AND a.metric_value > 0
                  AND a.metric_name = p.name AND a.metric_timestamp = p.ts),
               (SELECT v.metric_value FROM {table} AS v
                WHERE v.metric_batch = ?1 AND v.metric_type = 'metric'
                  AND v.metric_name = p.name AND v.metric_timestamp = p.ts),
               (SELECT f.metric_type FROM {table} AS f
                WHERE f.metric_batch = ?1 AND f.metric_type IN ('thumbsup', 'thumbsdown')
                  AND f.metric_name = p.name AND f.metric_timestamp = p.ts
                LIMIT 1)
             FROM ({points} ORDER BY ts DESC, name LIMIT ?2 OFFSET ?3) AS p
             ORDER BY p.ts DESC, p.name"
        );
        let mut rows = conn
            .query(
                &sql,
                libsql::params![batch, i64::from(limit), i64::from(offset)],
            )
            .await
            .context(&context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 5, &context)?;
            let (Some(timestamp), Some(metric)) = (
                text(values[0].clone()).as_deref().and_then(parse_lenient),
                text(values[1].clone()),
            ) else {
                continue;
            };
            let flags = flags_of(text(values[2].clone()).as_deref().unwrap_or("[]"));
            if flags.is_empty() {
                continue;
            }
            out.push(Anomaly {
                metric,
                timestamp,
                flags,
                value: real(&values[3]),
                feedback: text(values[4].clone())
                    .as_deref()
                    .and_then(Feedback::from_type),
            });
        }
        Ok((out, total))
    }

    /// The times of a batch's flags since `since`, oldest first, at most `limit`: what the
    /// home page's hourly bars count.
    pub async fn flag_times(
        &self,
        table: &str,
        batch: &str,
        since: NaiveDateTime,
        limit: u32,
    ) -> Result<Vec<NaiveDateTime>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let sql = format!(
            "SELECT DISTINCT metric_timestamp, metric_name FROM {table}
             WHERE metric_batch = ?1 AND metric_type IN ({}) AND metric_value > 0
               AND metric_timestamp >= ?2
             ORDER BY metric_timestamp LIMIT ?3",
            kinds_sql(&ANOMALY_KINDS)
        );
        let context = format!("cannot read the anomaly times of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                &sql,
                libsql::params![batch, format_db(since), i64::from(limit)],
            )
            .await
            .context(&context)?;
        timestamps(&mut rows, &context).await
    }

    /// Whether the batch has an alert of any kind for `metric` at `timestamp`: feedback is
    /// only taken on anomalies that exist.
    pub async fn is_anomaly(
        &self,
        table: &str,
        batch: &str,
        metric: &str,
        timestamp: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let context = format!("cannot look up an anomaly of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                &format!(
                    "SELECT 1 FROM {table}
                     WHERE metric_batch = ?1 AND metric_type IN ('alert', 'llmalert', 'change', 'tholdalert')
                       AND metric_name = ?2 AND metric_timestamp = ?3 AND metric_value > 0
                     LIMIT 1"
                ),
                libsql::params![batch, metric, format_db(timestamp)],
            )
            .await
            .context(&context)?;
        Ok(rows.next().await.context(&context)?.is_some())
    }

    /// Sets (or with `None` clears) the feedback on one anomaly: at most one feedback row per
    /// metric and time, so repeating a click changes nothing and the other thumb replaces it.
    pub async fn set_feedback(
        &self,
        table: &str,
        batch: &str,
        metric: &str,
        timestamp: NaiveDateTime,
        feedback: Option<Feedback>,
    ) -> Result<(), StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let context = format!("cannot store feedback on `{metric}` in batch `{batch}`");
        let ts = format_db(timestamp);
        let conn = self.connect().await?;
        let tx = conn
            .within(conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate))
            .await
            .context(&context)?;
        conn.within(tx.execute(
            &format!(
                "DELETE FROM {table} WHERE metric_batch = ?1 AND metric_type IN ('thumbsup', 'thumbsdown')
                 AND metric_name = ?2 AND metric_timestamp = ?3"
            ),
            libsql::params![batch, metric, ts.clone()],
        ))
        .await
        .context(&context)?;
        if let Some(f) = feedback {
            conn.within(tx.execute(
                &format!(
                    "INSERT INTO {table} (metric_timestamp, metric_batch, metric_name, metric_type, metric_value, metadata)
                     VALUES (?1, ?2, ?3, ?4, 1, '')"
                ),
                libsql::params![ts, batch, metric, f.metric_type().as_str()],
            ))
            .await
            .context(&context)?;
        }
        conn.within(tx.commit()).await.context(&context)
    }
}
