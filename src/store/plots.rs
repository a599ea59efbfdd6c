//! The `plots` table: the plot job's newest PNG of each batch, served by the dashboard so it
//! can be linked or embedded elsewhere.

use chrono::NaiveDateTime;

use super::Store;
use super::error::{SqlContext, StoreError};
use crate::timestamp::{format_db, parse_lenient};

/// When a batch's picture was drawn, and of how many metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotInfo {
    pub created_at: NaiveDateTime,
    pub metrics: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub info: PlotInfo,
    pub png: Vec<u8>,
}

impl Store {
    /// Replaces the batch's picture.
    pub async fn save_plot(&self, batch: &str, plot: &Plot) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "INSERT INTO plots (batch, created_at, metrics, png) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (batch) DO UPDATE SET created_at = excluded.created_at,
               metrics = excluded.metrics, png = excluded.png",
            libsql::params![
                batch,
                format_db(plot.info.created_at),
                plot.info.metrics,
                plot.png.clone()
            ],
        )
        .await
        .context(format!("cannot save the plot of batch `{batch}`"))?;
        Ok(())
    }

    /// The batch's picture; with `with_png: false` only its date and size (for links).
    pub async fn plot(&self, batch: &str, with_png: bool) -> Result<Option<Plot>, StoreError> {
        let conn = self.connect().await?;
        let ctx = format!("cannot read the plot of batch `{batch}`");
        let sql = if with_png {
            "SELECT created_at, metrics, png FROM plots WHERE batch = ?1"
        } else {
            "SELECT created_at, metrics, x'' FROM plots WHERE batch = ?1"
        };
        let mut rows = conn
            .query(sql, libsql::params![batch])
            .await
            .context(ctx.clone())?;
        let Some(row) = rows.next().await.context(ctx.clone())? else {
            return Ok(None);
        };
        let created_at = row.get::<String>(0).context(ctx.clone())?;
        let Some(created_at) = parse_lenient(&created_at) else {
            return Ok(None);
        };
        Ok(Some(Plot {
            info: PlotInfo {
                created_at,
                metrics: u32::try_from(row.get::<i64>(1).context(ctx.clone())?).unwrap_or(0),
            },
            png: row.get::<Vec<u8>>(2).context(ctx)?,
        }))
    }
}
