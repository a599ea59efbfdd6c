//! The dashboard's reads: per-metric statistics of a batch's window (aggregated in SQL, so a
//! batch page does not pull every point) and one metric's chart series. Every read is a set
//! of primary-key ranges bounded by the window. The anomaly list is in `anomalies.rs`.

use chrono::{Duration, NaiveDateTime};

use super::Store;
use super::anomalies::{ANOMALY_KINDS, Feedback, kinds_sql};
use super::error::{SqlContext, StoreError};
use super::metrics::{MetricRow, MetricType, check_table, metric_names_cte};
use super::row::{columns, count, real, text, wide};
use super::window::{Window, since_sql};
use crate::timestamp::{format_db, parse_lenient};

/// One metric's figures over a window.
///
/// An *anomaly* is a point of a metric that any detector flagged: the ML alert, a threshold
/// breach, a change or the LLM. A point flagged by two detectors is one anomaly of two kinds,
/// so `anomalies` can be smaller than the sum of `kinds`. Every count on every page and in the
/// API is this one.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStats {
    pub name: String,
    /// Its newest point, in or out of the window.
    pub latest: NaiveDateTime,
    pub points: u32,
    pub avg_score: Option<f64>,
    /// Flagged points in the window.
    pub anomalies: u32,
    /// Whether its newest point is flagged: anomalous now.
    pub anomalous_now: bool,
    /// Flags of each kind in the window.
    pub kinds: KindCounts,
    /// Whether the freshness check found it stale (nothing arrived for `stale_after_n` of
    /// its usual intervals) and it has not come back since.
    pub stale: bool,
}

impl MetricStats {
    /// Share of the window's points that are anomalies: what charts are sorted by.
    pub fn anomaly_rate(&self) -> f64 {
        if self.points == 0 {
            0.0
        } else {
            f64::from(self.anomalies) / f64::from(self.points)
        }
    }
}

/// How many points each detector flagged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub ml: u32,
    pub threshold: u32,
    pub change: u32,
    pub llm: u32,
}

impl KindCounts {
    /// Each kind with its count, in the order pages list them.
    pub fn each(&self) -> [(MetricType, u32); 4] {
        ANOMALY_KINDS.map(|k| (k, self.of(k)))
    }

    /// The count of one kind (0 for a type that is not a flag).
    pub fn of(&self, kind: MetricType) -> u32 {
        match kind {
            MetricType::Alert => self.ml,
            MetricType::TholdAlert => self.threshold,
            MetricType::Change => self.change,
            MetricType::LlmAlert => self.llm,
            _ => 0,
        }
    }

    /// The anomalies (flagged points) among `points`, and the flags of each kind.
    pub fn tally(points: &[ChartPoint]) -> (u32, KindCounts) {
        let mut counts = KindCounts::default();
        let mut anomalies = 0;
        for kinds in points.iter().map(ChartPoint::kinds) {
            anomalies += u32::from(!kinds.is_empty());
            for kind in kinds {
                *counts.slot(kind) += 1;
            }
        }
        (anomalies, counts)
    }

    /// The counter of one kind (a type that is not a flag counts as ML; never asked for).
    fn slot(&mut self, kind: MetricType) -> &mut u32 {
        match kind {
            MetricType::TholdAlert => &mut self.threshold,
            MetricType::Change => &mut self.change,
            MetricType::LlmAlert => &mut self.llm,
            _ => &mut self.ml,
        }
    }

    fn add(self, other: KindCounts) -> KindCounts {
        KindCounts {
            ml: self.ml + other.ml,
            threshold: self.threshold + other.threshold,
            change: self.change + other.change,
            llm: self.llm + other.llm,
        }
    }
}

/// A batch's figures over a window, from its metrics' figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchSummary {
    pub metrics: usize,
    pub latest: Option<NaiveDateTime>,
    /// Mean of the metrics' average scores.
    pub avg_score: Option<f64>,
    /// Anomalies (flagged points) over all its metrics.
    pub anomalies: u32,
    /// Metrics whose newest point is an anomaly.
    pub anomalous_now: usize,
    pub kinds: KindCounts,
    /// Metrics that are stale.
    pub stale: usize,
}

impl BatchSummary {
    pub fn of(stats: &[MetricStats]) -> Self {
        let scores: Vec<f64> = stats.iter().filter_map(|s| s.avg_score).collect();
        Self {
            metrics: stats.len(),
            latest: stats.iter().map(|s| s.latest).max(),
            avg_score: (!scores.is_empty())
                .then(|| scores.iter().sum::<f64>() / scores.len() as f64),
            anomalies: stats.iter().map(|s| s.anomalies).sum(),
            anomalous_now: stats.iter().filter(|s| s.anomalous_now).count(),
            kinds: stats
                .iter()
                .fold(KindCounts::default(), |acc, s| acc.add(s.kinds)),
            stale: stats.iter().filter(|s| s.stale).count(),
        }
    }
}

/// Job runs of one kind and outcome, over the kept run history.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTotals {
    pub job: String,
    pub status: String,
    pub runs: u64,
    pub seconds: f64,
    pub rows_read: u64,
    pub rows_written: u64,
}

/// One timestamp of a metric's chart: its value and whatever the jobs wrote at that time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartPoint {
    pub timestamp: NaiveDateTime,
    pub value: Option<f64>,
    pub score: Option<f64>,
    pub alert: bool,
    /// An LLM alert, with its explanation when the job gave one.
    pub llmalert: Option<String>,
    pub change: bool,
    /// A threshold alert, with its metadata (bounds, value).
    pub tholdalert: Option<String>,
    pub feedback: Option<Feedback>,
}

impl ChartPoint {
    /// Whether any job flagged this point (alert, LLM alert, change or threshold alert).
    pub fn flagged(&self) -> bool {
        self.alert || self.change || self.llmalert.is_some() || self.tholdalert.is_some()
    }

    /// The kinds that flagged this point, in `ANOMALY_KINDS` order.
    pub fn kinds(&self) -> Vec<MetricType> {
        ANOMALY_KINDS
            .into_iter()
            .filter(|k| match k {
                MetricType::Alert => self.alert,
                MetricType::TholdAlert => self.tholdalert.is_some(),
                MetricType::Change => self.change,
                MetricType::LlmAlert => self.llmalert.is_some(),
                _ => false,
            })
            .collect()
    }

    /// Adds one long-format row stored at this point's time (`metric_type`, value, metadata).
    pub fn apply(&mut self, kind: &str, value: Option<f64>, metadata: String) {
        let flagged = value.is_some_and(|v| v > 0.0);
        match kind {
            "metric" => self.value = value,
            "score" => self.score = value,
            "alert" => self.alert = flagged,
            "llmalert" if flagged => self.llmalert = Some(explanation(&metadata)),
            "change" => self.change = flagged,
            "tholdalert" if flagged => self.tholdalert = Some(metadata),
            other => {
                if let Some(f) = Feedback::from_type(other) {
                    self.feedback = Some(f);
                }
            }
        }
    }

    /// Long-format rows of one metric as chart points, oldest first.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = &'a MetricRow>) -> Vec<ChartPoint> {
        let mut by_time: std::collections::BTreeMap<NaiveDateTime, ChartPoint> = Default::default();
        for row in rows {
            by_time
                .entry(row.timestamp)
                .or_insert_with(|| ChartPoint {
                    timestamp: row.timestamp,
                    ..ChartPoint::default()
                })
                .apply(
                    row.metric_type.as_str(),
                    Some(row.value),
                    row.metadata.clone(),
                );
        }
        by_time.into_values().collect()
    }
}

impl Store {
    /// Per-metric figures of a batch over `window`, for metrics with a point in the last
    /// `stale_days` days; by name.
    pub async fn dashboard_stats(
        &self,
        table: &str,
        batch: &str,
        window: Window,
        stale_days: u32,
        now: NaiveDateTime,
    ) -> Result<Vec<MetricStats>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let since = since_sql(table, window, now);
        let kind = |t: &str, what: &str| {
            format!(
                "(SELECT {what} FROM {table} AS k
                  WHERE k.metric_batch = ?1 AND k.metric_type = '{t}' AND k.metric_name = n
                    AND k.metric_timestamp >= since{extra})",
                extra = if what == "count(*)" && t != "metric" {
                    " AND k.metric_value > 0"
                } else {
                    ""
                }
            )
        };
        let sql = format!(
            "WITH RECURSIVE {names},
             cut AS (
               SELECT n,
                 (SELECT max(l.metric_timestamp) FROM {table} AS l
                  WHERE l.metric_batch = ?1 AND l.metric_type = 'metric' AND l.metric_name = n) AS latest,
                 {since} AS since
               FROM names WHERE n IS NOT NULL
             )
             SELECT n, latest, {points}, {score}, {alerts}, {llm}, {changes}, {thold},
               (SELECT count(DISTINCT k.metric_timestamp) FROM {table} AS k
                WHERE k.metric_batch = ?1 AND k.metric_type IN ({flags}) AND k.metric_name = n
                  AND k.metric_timestamp >= since AND k.metric_value > 0),
               EXISTS (SELECT 1 FROM {table} AS k
                WHERE k.metric_batch = ?1 AND k.metric_type IN ({flags}) AND k.metric_name = n
                  AND k.metric_timestamp = latest AND k.metric_value > 0),
               (SELECT f.stale FROM freshness AS f WHERE f.batch = ?1 AND f.metric = n)
             FROM cut WHERE latest >= ?2 ORDER BY n",
            flags = kinds_sql(&ANOMALY_KINDS),
            points = kind("metric", "count(*)"),
            score = kind("score", "avg(k.metric_value)"),
            alerts = kind("alert", "count(*)"),
            llm = kind("llmalert", "count(*)"),
            changes = kind("change", "count(*)"),
            thold = kind("tholdalert", "count(*)"),
            names = metric_names_cte(table),
        );
        let fresh = format_db(now - Duration::days(i64::from(stale_days)));
        let context = format!("cannot read the dashboard figures of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(&sql, libsql::params![batch, fresh])
            .await
            .context(&context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 11, &context)?;
            let (Some(name), Some(latest)) = (
                text(values[0].clone()),
                text(values[1].clone()).as_deref().and_then(parse_lenient),
            ) else {
                continue;
            };
            out.push(MetricStats {
                name,
                latest,
                points: count(&values[2]),
                avg_score: real(&values[3]),
                anomalies: count(&values[8]),
                anomalous_now: count(&values[9]) > 0,
                kinds: KindCounts {
                    ml: count(&values[4]),
                    llm: count(&values[5]),
                    change: count(&values[6]),
                    threshold: count(&values[7]),
                },
                stale: real(&values[10]).is_some_and(|v| v > 0.0),
            });
        }
        Ok(out)
    }

    /// One metric's chart over `window` (up to `until`, when given), oldest first.
    pub async fn dashboard_series(
        &self,
        table: &str,
        batch: &str,
        metric: &str,
        window: Window,
        now: NaiveDateTime,
        until: Option<NaiveDateTime>,
    ) -> Result<Vec<ChartPoint>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let since = since_sql(table, window, now);
        self.series_since(table, batch, metric, &since, until).await
    }

    /// One metric's chart from `since` up to `until` (both included), oldest first, without
    /// the window's point cap: the caller bounds the span (the MCP `read_series` tool).
    pub async fn series_between(
        &self,
        table: &str,
        batch: &str,
        metric: &str,
        since: NaiveDateTime,
        until: Option<NaiveDateTime>,
    ) -> Result<Vec<ChartPoint>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        // A literal from our own formatter, never user text.
        let since = format!("'{}'", format_db(since));
        self.series_since(table, batch, metric, &since, until).await
    }

    /// One metric's chart from the SQL expression `since` up to `until`; `table` is checked.
    async fn series_since(
        &self,
        table: &str,
        batch: &str,
        metric: &str,
        since: &str,
        until: Option<NaiveDateTime>,
    ) -> Result<Vec<ChartPoint>, StoreError> {
        let sql = format!(
            "WITH cut AS (SELECT ?2 AS n), bound AS (SELECT {since} AS since FROM cut)
             SELECT m.metric_timestamp, m.metric_type, m.metric_value, m.metadata
             FROM bound CROSS JOIN {table} AS m
             WHERE m.metric_batch = ?1
               AND m.metric_type IN ('metric', 'score', 'alert', 'llmalert', 'change', 'tholdalert', 'thumbsup', 'thumbsdown')
               AND m.metric_name = ?2 AND m.metric_timestamp >= bound.since
               AND m.metric_timestamp <= ?3"
        );
        let until = until.map_or_else(|| "9999-12-31 23:59:59".to_owned(), format_db);
        let context = format!("cannot read metric `{metric}` of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(&sql, libsql::params![batch, metric, until])
            .await
            .context(&context)?;
        let mut by_time: std::collections::BTreeMap<NaiveDateTime, ChartPoint> = Default::default();
        while let Some(row) = rows.next().await.context(&context)? {
            let Some(ts) = text(row.get_value(0).context(&context)?)
                .as_deref()
                .and_then(parse_lenient)
            else {
                continue;
            };
            let kind = text(row.get_value(1).context(&context)?).unwrap_or_default();
            let value = real(&row.get_value(2).context(&context)?);
            let metadata = text(row.get_value(3).context(&context)?).unwrap_or_default();
            by_time
                .entry(ts)
                .or_insert_with(|| ChartPoint {
                    timestamp: ts,
                    ..ChartPoint::default()
                })
                .apply(&kind, value, metadata);
        }
        // Markers without a value at their time (the value aged out) are kept: the chart
        // places them on the score axis.
        Ok(by_time.into_values().collect())
    }

    /// Run counts, durations and rows by job and status, for `/metrics`.
    pub async fn run_totals(&self) -> Result<Vec<RunTotals>, StoreError> {
        let context = "cannot total the job runs";
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                "SELECT job, status, count(*),
                   coalesce(sum((julianday(finished_at) - julianday(started_at)) * 86400.0), 0.0),
                   coalesce(sum(rows_read), 0), coalesce(sum(rows_written), 0)
                 FROM job_runs GROUP BY job, status ORDER BY job, status",
                (),
            )
            .await
            .context(context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(context)? {
            let values = columns(&row, 6, context)?;
            out.push(RunTotals {
                job: text(values[0].clone()).unwrap_or_default(),
                status: text(values[1].clone()).unwrap_or_default(),
                runs: u64::from(count(&values[2])),
                seconds: real(&values[3]).unwrap_or(0.0).max(0.0),
                rows_read: wide(&values[4]),
                rows_written: wide(&values[5]),
            });
        }
        Ok(out)
    }

    /// The chart around one moment: up to `n` values before `timestamp`, the one at it and up
    /// to `n` after, with every row stored at those times.
    pub async fn series_around(
        &self,
        table: &str,
        batch: &str,
        metric: &str,
        timestamp: NaiveDateTime,
        n: u32,
    ) -> Result<Vec<ChartPoint>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let context = format!("cannot read metric `{metric}` of batch `{batch}`");
        let side = |cmp: &str, order: &str| {
            format!(
                "(SELECT metric_timestamp FROM {table}
                  WHERE metric_batch = ?1 AND metric_name = ?2 AND metric_type = 'metric'
                    AND metric_timestamp {cmp} ?3
                  ORDER BY metric_timestamp {order} LIMIT ?4)"
            )
        };
        let sql = format!(
            "SELECT (SELECT MIN(metric_timestamp) FROM {}), (SELECT MAX(metric_timestamp) FROM {})",
            side("<=", "DESC"),
            side(">=", "ASC")
        );
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                &sql,
                // Each side counts the point at `timestamp` too.
                libsql::params![batch, metric, format_db(timestamp), n.saturating_add(1)],
            )
            .await
            .context(&context)?;
        let (mut from, mut to) = (timestamp, timestamp);
        if let Some(row) = rows.next().await.context(&context)? {
            let bound = |i| -> Result<Option<NaiveDateTime>, StoreError> {
                Ok(text(row.get_value(i).context(&context)?)
                    .as_deref()
                    .and_then(parse_lenient))
            };
            from = bound(0)?.unwrap_or(timestamp).min(timestamp);
            to = bound(1)?.unwrap_or(timestamp).max(timestamp);
        }
        // A literal bound: a window's point cap counts from the newest point, which would cut
        // off anomalies older than the newest 5000 points.
        let since = format!("'{}'", format_db(from));
        self.series_since(table, batch, metric, &since, Some(to))
            .await
    }
}

/// The explanation an `llmalert` row carries in its metadata (JSON with
/// `anomaly_explanation`, as the original wrote it), or the metadata itself.
fn explanation(metadata: &str) -> String {
    serde_json::from_str::<serde_json::Value>(metadata)
        .ok()
        .and_then(|v| {
            v.get("anomaly_explanation")
                .and_then(|e| e.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| metadata.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llm_explanations_come_from_the_metadata_json() {
        assert_eq!(
            explanation(r#"{"anomaly_explanation": "a spike"}"#),
            "a spike"
        );
        assert_eq!(explanation("plain"), "plain");
    }
}
