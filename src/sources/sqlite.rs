//! `db: sqlite`: the batch's query runs on the app database itself.

use super::table::{Cell, Table};
use super::{Fetched, SourceError};
use crate::store::{QueryResult, Store, Value};

pub async fn fetch(batch: &str, store: &Store, sql: &str) -> Result<Fetched, SourceError> {
    let result = store
        .query(sql, "ingest_sql failed")
        .await
        .map_err(|e| SourceError::failed(batch, e.to_string()))?;
    table(result).into_fetched(batch)
}

/// A libsql result as a table (SQLite's storage classes map one to one).
pub(super) fn table(result: QueryResult) -> Table {
    Table {
        columns: result.columns,
        rows: result
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        Value::Real(v) => Cell::Number(v),
                        Value::Integer(v) => Cell::Number(v as f64),
                        Value::Text(t) => Cell::Text(t),
                        Value::Null | Value::Blob(_) => Cell::Null,
                    })
                    .collect()
            })
            .collect(),
    }
}
