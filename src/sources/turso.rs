//! `db: turso`: the batch's query on a Turso (libsql) database of its own
//! (`ANOMSTACK_TURSO_SOURCE_URL`, else the app's `ANOMSTACK_TURSO_DATABASE_URL`), over the
//! same remote client the app database uses.

use super::{Fetched, SourceError};
use crate::config::{DatabaseLocation, SourceSettings};
use crate::store::Store;

pub async fn fetch(
    batch: &str,
    settings: &SourceSettings,
    sql: &str,
) -> Result<Fetched, SourceError> {
    let Some(turso) = &settings.turso else {
        return Err(SourceError::failed(
            batch,
            "db `turso` needs ANOMSTACK_TURSO_SOURCE_URL (or ANOMSTACK_TURSO_DATABASE_URL) and \
             its auth token",
        ));
    };
    let location = DatabaseLocation::Remote {
        url: turso.url.clone(),
        token: turso.token.clone(),
    };
    let db = Store::open_unmigrated(&location)
        .await
        .map_err(|e| SourceError::failed(batch, format!("turso: {e}")))?;
    let result = db
        .query(sql, "ingest_sql failed on turso")
        .await
        .map_err(|e| SourceError::failed(batch, e.to_string()))?;
    super::sqlite::table(result).into_fetched(batch)
}
