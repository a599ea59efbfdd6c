//! The dashboard's reads: per-metric statistics of a batch's window (aggregated in SQL, so a
//! batch page does not pull every point), one metric's chart series, the anomaly list, and
//! feedback on anomalies. Every read is a set of primary-key ranges bounded by the window.

use std::fmt;
use std::str::FromStr;

use chrono::{Duration, NaiveDateTime};

use super::Store;
use super::error::{SqlContext, StoreError};
use super::metrics::{MetricRow, MetricType, check_table};
use super::row::{columns, count, real, text, wide};
use crate::timestamp::{format_db, parse_lenient};

/// How much history a page shows: the newest N points of each metric (`90n`), or everything
/// since a time before now (`24h`, `45m`, `7d`). A plain number means points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Last(usize),
    Minutes(u32),
    Hours(u32),
    Days(u32),
}

impl Window {
    /// How far back a time window reaches (`None` for a number of points).
    pub fn span(self) -> Option<Duration> {
        match self {
            Window::Last(_) => None,
            Window::Minutes(n) => Some(Duration::minutes(i64::from(n))),
            Window::Hours(n) => Some(Duration::hours(i64::from(n))),
            Window::Days(n) => Some(Duration::days(i64::from(n))),
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::Last(90)
    }
}

/// Points of one metric at most in a window, whatever was asked: bounds every page's work.
pub const MAX_WINDOW_POINTS: usize = 5000;

impl FromStr for Window {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let bad = || {
            format!(
                "window `{}`: expected a number of points (90n) or a time span (45m, 24h, 7d)",
                text.chars().take(40).collect::<String>()
            )
        };
        let (digits, unit) = match text.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], Some(c.to_ascii_lowercase())),
            Some(_) => (text, None),
            None => return Err(bad()),
        };
        let n: u32 = digits.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        // Ten years back at most: enough for anyone, and no date arithmetic overflows.
        match unit {
            None | Some('n') => Ok(Window::Last((n as usize).min(MAX_WINDOW_POINTS))),
            Some('m') => Ok(Window::Minutes(n.min(60 * 24 * 3650))),
            Some('h') => Ok(Window::Hours(n.min(24 * 3650))),
            Some('d') => Ok(Window::Days(n.min(3650))),
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Last(n) => write!(f, "{n}n"),
            Window::Minutes(n) => write!(f, "{n}m"),
            Window::Hours(n) => write!(f, "{n}h"),
            Window::Days(n) => write!(f, "{n}d"),
        }
    }
}

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
        points.iter().fold((0, KindCounts::default()), |(n, k), p| {
            let flagged = p.flagged();
            (
                n + u32::from(flagged),
                KindCounts {
                    ml: k.ml + u32::from(p.alert),
                    threshold: k.threshold + u32::from(p.tholdalert.is_some()),
                    change: k.change + u32::from(p.change),
                    llm: k.llm + u32::from(p.llmalert.is_some()),
                },
            )
        })
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

    fn from_type(raw: &str) -> Option<Self> {
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

/// The per-metric expression of the window's first timestamp (`n` is the metric name
/// column). A time window also stops at the metric's `MAX_WINDOW_POINTS`-th newest point, so
/// `3650d` on a dense metric reads no more than `5000n` would.
fn since_sql(table: &str, window: Window, now: NaiveDateTime) -> String {
    let newest = |n: usize| {
        format!(
            "coalesce((SELECT s.metric_timestamp FROM {table} AS s
                WHERE s.metric_batch = ?1 AND s.metric_type = 'metric' AND s.metric_name = n
                ORDER BY s.metric_timestamp DESC LIMIT 1 OFFSET {}), '')",
            n.max(1) - 1
        )
    };
    match (window, window.span()) {
        (Window::Last(n), _) => newest(n),
        (_, Some(span)) => format!(
            "max('{}', {})",
            format_db(now - span),
            newest(MAX_WINDOW_POINTS)
        ),
        (_, None) => newest(MAX_WINDOW_POINTS),
    }
}

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
fn kinds_sql(kinds: &[MetricType]) -> String {
    kinds
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
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
            "WITH RECURSIVE names(n) AS (
               SELECT min(metric_name) FROM {table} WHERE metric_batch = ?1 AND metric_type = 'metric'
               UNION ALL
               SELECT (SELECT min(x.metric_name) FROM {table} AS x
                       WHERE x.metric_batch = ?1 AND x.metric_type = 'metric' AND x.metric_name > names.n)
               FROM names WHERE n IS NOT NULL
             ),
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
                  AND k.metric_timestamp = latest AND k.metric_value > 0)
             FROM cut WHERE latest >= ?2 ORDER BY n",
            flags = kinds_sql(&ANOMALY_KINDS),
            points = kind("metric", "count(*)"),
            score = kind("score", "avg(k.metric_value)"),
            alerts = kind("alert", "count(*)"),
            llm = kind("llmalert", "count(*)"),
            changes = kind("change", "count(*)"),
            thold = kind("tholdalert", "count(*)"),
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
            let values = columns(&row, 10, &context)?;
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
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            if let Some(ts) = text(row.get_value(0).context(&context)?)
                .as_deref()
                .and_then(parse_lenient)
            {
                out.push(ts);
            }
        }
        Ok(out)
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
            .transaction_with_behavior(libsql::TransactionBehavior::Immediate)
            .await
            .context(&context)?;
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE metric_batch = ?1 AND metric_type IN ('thumbsup', 'thumbsdown')
                 AND metric_name = ?2 AND metric_timestamp = ?3"
            ),
            libsql::params![batch, metric, ts.clone()],
        )
        .await
        .context(&context)?;
        if let Some(f) = feedback {
            tx.execute(
                &format!(
                    "INSERT INTO {table} (metric_timestamp, metric_batch, metric_name, metric_type, metric_value, metadata)
                     VALUES (?1, ?2, ?3, ?4, 1, '')"
                ),
                libsql::params![ts, batch, metric, f.metric_type().as_str()],
            )
            .await
            .context(&context)?;
        }
        tx.commit().await.context(&context)
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
    fn windows_parse_as_the_original_wrote_them() {
        assert_eq!("90n".parse(), Ok(Window::Last(90)));
        assert_eq!("90".parse(), Ok(Window::Last(90)));
        assert_eq!("24h".parse(), Ok(Window::Hours(24)));
        assert_eq!("45M".parse(), Ok(Window::Minutes(45)));
        assert_eq!("7d".parse(), Ok(Window::Days(7)));
        assert_eq!(Window::Days(7).span(), Some(Duration::days(7)));
        assert_eq!("999999n".parse(), Ok(Window::Last(MAX_WINDOW_POINTS)));
        for bad in [
            "",
            "n",
            "0n",
            "5x",
            "-3h",
            "1.5h",
            "h24",
            "9999999999999999h",
        ] {
            assert!(bad.parse::<Window>().is_err(), "{bad}");
        }
        for w in ["90n", "24h", "45m", "7d"] {
            assert_eq!(w.parse::<Window>().unwrap().to_string(), w);
        }
    }

    #[test]
    fn llm_explanations_come_from_the_metadata_json() {
        assert_eq!(
            explanation(r#"{"anomaly_explanation": "a spike"}"#),
            "a spike"
        );
        assert_eq!(explanation("plain"), "plain");
    }
}
