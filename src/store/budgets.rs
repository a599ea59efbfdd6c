//! What alert budgets keep in the database: the alerts that spent a metric's budget, the ones
//! held back for the summary, and the threshold the alert job calibrated for each metric.

use chrono::NaiveDateTime;

use super::Store;
use super::error::{SqlContext, StoreError};
use super::metrics::check_table;
use super::row::{columns, real, text, timestamps};
use super::score_notes::{OVER_BUDGET_LIKE, SEEDED_LIKE};
use crate::timestamp::{format_db, parse_lenient};

/// A metric's budgeted threshold, as the alert job last set it.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetThreshold {
    /// The budget, as configured (`2/day`).
    pub budget: String,
    /// The batch's threshold, which the budget only ever raises.
    pub configured: f64,
    pub threshold: f64,
    pub calibrated_at: NaiveDateTime,
}

/// An alert held back by a budget.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldAlert {
    pub metric: String,
    pub timestamp: NaiveDateTime,
}

impl Store {
    /// The times of `metric`'s alerts after `since` that were sent within its budget (not
    /// held, not written by seeding).
    pub async fn budget_spent(
        &self,
        table: &str,
        batch: &str,
        metric: &str,
        since: NaiveDateTime,
    ) -> Result<Vec<NaiveDateTime>, StoreError> {
        check_table(table)?;
        let context = format!("cannot read the alerts of `{metric}` in batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .within(conn.query(
                &format!(
                    "SELECT metric_timestamp FROM {table}
                     WHERE metric_batch = ?1 AND metric_name = ?2 AND metric_type = 'alert'
                       AND metric_timestamp > ?3 AND metadata NOT LIKE ?4 AND metadata NOT LIKE ?5"
                ),
                libsql::params![
                    batch,
                    metric,
                    format_db(since),
                    OVER_BUDGET_LIKE,
                    SEEDED_LIKE
                ],
            ))
            .await
            .context(&context)?;
        timestamps(&mut rows, &context).await
    }

    /// A batch's alerts held back by budgets after `since`, oldest first.
    pub async fn held_alerts(
        &self,
        table: &str,
        batch: &str,
        since: NaiveDateTime,
    ) -> Result<Vec<HeldAlert>, StoreError> {
        check_table(table)?;
        self.ensure_metrics_table(table).await?;
        let context = format!("cannot read the held alerts of batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .within(conn.query(
                &format!(
                    "SELECT metric_name, metric_timestamp FROM {table}
                     WHERE metric_batch = ?1 AND metric_type = 'alert'
                       AND metric_timestamp > ?2 AND metadata LIKE ?3
                     ORDER BY metric_timestamp, metric_name"
                ),
                libsql::params![batch, format_db(since), OVER_BUDGET_LIKE],
            ))
            .await
            .context(&context)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(&context)? {
            let values = columns(&row, 2, &context)?;
            if let (Some(metric), Some(timestamp)) = (
                text(values[0].clone()),
                text(values[1].clone()).as_deref().and_then(parse_lenient),
            ) {
                out.push(HeldAlert { metric, timestamp });
            }
        }
        Ok(out)
    }

    /// Records the threshold the alert job calibrated for `metric`.
    pub async fn record_budget_threshold(
        &self,
        batch: &str,
        metric: &str,
        state: &BudgetThreshold,
    ) -> Result<(), StoreError> {
        let context = format!("cannot record the alert budget of `{metric}` in batch `{batch}`");
        let conn = self.connect().await?;
        conn.within(conn.execute(
            "INSERT INTO alert_budgets (batch, metric, budget, configured, threshold, calibrated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (batch, metric) DO UPDATE SET budget = excluded.budget,
               configured = excluded.configured, threshold = excluded.threshold,
               calibrated_at = excluded.calibrated_at",
            libsql::params![
                batch,
                metric,
                state.budget.clone(),
                state.configured,
                state.threshold,
                format_db(state.calibrated_at)
            ],
        ))
        .await
        .context(&context)?;
        Ok(())
    }

    /// The threshold the alert job last calibrated for `metric`, if it has a budget.
    pub async fn budget_threshold(
        &self,
        batch: &str,
        metric: &str,
    ) -> Result<Option<BudgetThreshold>, StoreError> {
        let context = format!("cannot read the alert budget of `{metric}` in batch `{batch}`");
        let conn = self.connect().await?;
        let mut rows = conn
            .within(conn.query(
                "SELECT budget, configured, threshold, calibrated_at FROM alert_budgets
                 WHERE batch = ?1 AND metric = ?2",
                libsql::params![batch, metric],
            ))
            .await
            .context(&context)?;
        let Some(row) = rows.next().await.context(&context)? else {
            return Ok(None);
        };
        let values = columns(&row, 4, &context)?;
        Ok(
            match (
                text(values[0].clone()),
                real(&values[1]),
                real(&values[2]),
                text(values[3].clone()).as_deref().and_then(parse_lenient),
            ) {
                (Some(budget), Some(configured), Some(threshold), Some(calibrated_at)) => {
                    Some(BudgetThreshold {
                        budget,
                        configured,
                        threshold,
                        calibrated_at,
                    })
                }
                _ => None,
            },
        )
    }
}
