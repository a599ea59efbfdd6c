//! What people's 👍/👎 teach the alert job: every verdict of a batch with the level the score
//! job noted at that point, less what an admin reset made it forget.

use chrono::NaiveDateTime;

use super::Store;
use super::anomalies::Feedback;
use super::error::{SqlContext, StoreError};
use super::metrics::check_table;
use super::row::{columns, text};
use super::score_notes::score_notes;
use crate::timestamp::{format_db, parse_lenient};

/// A person's verdict on an alert, with what the score job noted at that point.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVerdict {
    pub metric: String,
    pub timestamp: NaiveDateTime,
    pub feedback: Feedback,
    /// The point's level, as the score job noted it (none without).
    pub level: Option<f64>,
}

impl StoredVerdict {
    /// As the feedback rule takes it: (unix seconds of the point, useful, level).
    pub fn given(&self) -> (i64, bool, Option<f64>) {
        (
            self.timestamp.and_utc().timestamp(),
            self.feedback == Feedback::Up,
            self.level,
        )
    }
}

/// An admin's reset of one metric's feedback.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackReset {
    pub reset_at: NaiveDateTime,
    pub reset_by: String,
}

impl Store {
    /// The verdicts that teach a batch's alerts (one metric's with `metric`), oldest first:
    /// every 👍/👎 on a point after the metric's last reset, with the metadata of the score
    /// at the same point.
    pub async fn verdicts(
        &self,
        table: &str,
        batch: &str,
        metric: Option<&str>,
    ) -> Result<Vec<StoredVerdict>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let context = format!("cannot read the feedback of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                &format!(
                    "SELECT f.metric_name, f.metric_timestamp, f.metric_type, coalesce(s.metadata, '')
                     FROM {table} f
                     LEFT JOIN {table} s
                       ON s.metric_batch = f.metric_batch AND s.metric_type = 'score'
                      AND s.metric_name = f.metric_name AND s.metric_timestamp = f.metric_timestamp
                     LEFT JOIN feedback_resets r
                       ON r.batch = f.metric_batch AND r.metric = f.metric_name
                     WHERE f.metric_batch = ?1 AND f.metric_type IN ('thumbsup', 'thumbsdown')
                       AND (?2 IS NULL OR f.metric_name = ?2)
                       AND (r.reset_at IS NULL OR f.metric_timestamp > r.reset_at)
                     ORDER BY f.metric_timestamp"
                ),
                libsql::params![batch, metric],
            )
            .await
            .context(&context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 4, &context)?;
            let (Some(metric), Some(ts), Some(kind)) = (
                text(values[0].clone()),
                text(values[1].clone()).as_deref().and_then(parse_lenient),
                text(values[2].clone())
                    .as_deref()
                    .and_then(Feedback::from_type),
            ) else {
                continue;
            };
            out.push(StoredVerdict {
                metric,
                timestamp: ts,
                feedback: kind,
                level: score_notes(&text(values[3].clone()).unwrap_or_default()).level,
            });
        }
        Ok(out)
    }

    /// Makes a metric forget its feedback: verdicts on points up to `at` stop teaching it.
    pub async fn reset_feedback(
        &self,
        batch: &str,
        metric: &str,
        at: NaiveDateTime,
        by: &str,
    ) -> Result<(), StoreError> {
        let context = format!("cannot reset the feedback of `{metric}` in batch `{batch}`");
        let conn = self.connect().await?;
        conn.within(conn.execute(
            "INSERT INTO feedback_resets (batch, metric, reset_at, reset_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (batch, metric) DO UPDATE SET reset_at = excluded.reset_at, reset_by = excluded.reset_by",
            libsql::params![batch, metric, format_db(at), by],
        ))
        .await
        .context(&context)?;
        Ok(())
    }

    /// A metric's last feedback reset, if any.
    pub async fn feedback_reset(
        &self,
        batch: &str,
        metric: &str,
    ) -> Result<Option<FeedbackReset>, StoreError> {
        let context = format!("cannot read the feedback reset of `{metric}` in batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .query(
                "SELECT reset_at, reset_by FROM feedback_resets WHERE batch = ?1 AND metric = ?2",
                libsql::params![batch, metric],
            )
            .await
            .context(&context)?;
        let Some(row) = rows.next().await.context(&context)? else {
            return Ok(None);
        };
        let values = columns(&row, 2, &context)?;
        Ok(text(values[0].clone())
            .as_deref()
            .and_then(parse_lenient)
            .map(|reset_at| FeedbackReset {
                reset_at,
                reset_by: text(values[1].clone()).unwrap_or_default(),
            }))
    }
}
