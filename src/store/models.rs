//! The `models` table behind the `db://` model store: serialized models kept in the app
//! database, so a stateless machine on Turso needs no volume.

use chrono::Utc;

use super::Store;
use super::error::{SqlContext, StoreError};
use crate::timestamp::format_db;

impl Store {
    pub async fn save_model(
        &self,
        batch: &str,
        metric: &str,
        tag: &str,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        conn.execute(
            "INSERT INTO models (batch, metric_name, model_tag, trained_at, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (batch, metric_name, model_tag) DO UPDATE SET trained_at = excluded.trained_at, body = excluded.body",
            libsql::params![batch, metric, tag, format_db(Utc::now().naive_utc()), body.to_vec()],
        )
        .await
        .context(format!("cannot save model {tag} of `{metric}`"))?;
        Ok(())
    }

    pub async fn load_model(
        &self,
        batch: &str,
        metric: &str,
        tag: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.connect().await?;
        let ctx = format!("cannot load model {tag} of `{metric}`");
        let mut rows = conn
            .query(
                "SELECT body FROM models WHERE batch = ?1 AND metric_name = ?2 AND model_tag = ?3",
                libsql::params![batch, metric, tag],
            )
            .await
            .context(ctx.clone())?;
        match rows.next().await.context(ctx.clone())? {
            Some(row) => Ok(Some(row.get::<Vec<u8>>(0).context(ctx)?)),
            None => Ok(None),
        }
    }
}
