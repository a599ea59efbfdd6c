//! The `notifications` table: one row per message and channel, with its outcome.

use chrono::Utc;

use super::Store;
use super::error::{SqlContext, StoreError};
use crate::timestamp::format_db;

/// A delivery attempt's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub run_id: Option<i64>,
    pub batch: String,
    pub metric: String,
    pub kind: String,
    pub channel: String,
    /// `sent`, `failed`, `silenced` or `grouped` (told by another message of its incident).
    pub status: String,
    pub error: Option<String>,
}

impl Store {
    pub async fn record_notifications(
        &self,
        records: &[NotificationRecord],
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let conn = self.connect().await?;
        let ctx = "cannot record notifications";
        let now = format_db(Utc::now().naive_utc());
        let tx = conn.transaction().await.context(ctx)?;
        for r in records {
            conn.within(tx.execute(
                "INSERT INTO notifications (created_at, run_id, batch, metric, kind, channel, status, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                libsql::params![
                    now.as_str(),
                    r.run_id,
                    r.batch.as_str(),
                    r.metric.as_str(),
                    r.kind.as_str(),
                    r.channel.as_str(),
                    r.status.as_str(),
                    r.error.clone()
                ],
            ))
            .await
            .context(ctx)?;
        }
        conn.within(tx.commit()).await.context(ctx)
    }

    /// Whether a message of `kind` about this metric was sent (or told by its incident's
    /// thread) since `since`.
    pub async fn notified_since(
        &self,
        batch: &str,
        metric: &str,
        kind: &str,
        since: chrono::NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot read notifications";
        let mut rows = conn
            .query(
                "SELECT 1 FROM notifications WHERE batch = ?1 AND metric = ?2 AND kind = ?3 AND status IN ('sent', 'grouped') AND created_at >= ?4 LIMIT 1",
                libsql::params![batch, metric, kind, format_db(since)],
            )
            .await
            .context(ctx)?;
        Ok(rows.next().await.context(ctx)?.is_some())
    }

    /// Counts by (channel, status), for `/metrics`.
    pub async fn notification_totals(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.connect().await?;
        let ctx = "cannot count notifications";
        let mut rows = conn
            .query(
                "SELECT channel, status, COUNT(*) FROM notifications GROUP BY channel, status ORDER BY channel, status",
                (),
            )
            .await
            .context(ctx)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(ctx)? {
            out.push((
                row.get::<String>(0).context(ctx)?,
                row.get::<String>(1).context(ctx)?,
                row.get::<i64>(2).context(ctx)?.max(0) as u64,
            ));
        }
        Ok(out)
    }
}
