//! `db: sqlite`: the batch's query runs on the app database itself.

use super::{Fetched, RawRow, RawValue, SourceError};
use crate::store::{Store, Value};

pub async fn fetch(batch: &str, store: &Store, sql: &str) -> Result<Fetched, SourceError> {
    let result = store
        .query(sql, "ingest_sql failed")
        .await
        .map_err(|e| SourceError::failed(batch, e.to_string()))?;
    let col = |name: &str| {
        result.column(name).ok_or_else(|| {
            SourceError::failed(
                batch,
                format!(
                    "ingest_sql must return a `{name}` column (it returned: {})",
                    result.columns.join(", ")
                ),
            )
        })
    };
    let (ts, name, value) = (
        col("metric_timestamp")?,
        col("metric_name")?,
        col("metric_value")?,
    );
    let rows = result
        .rows
        .iter()
        .map(|r| RawRow {
            timestamp: text(&r[ts]),
            name: text(&r[name]),
            value: match &r[value] {
                Value::Real(v) => RawValue::Number(*v),
                Value::Integer(v) => RawValue::Number(*v as f64),
                Value::Text(t) => RawValue::Text(t.clone()),
                Value::Null | Value::Blob(_) => RawValue::Missing,
            },
        })
        .collect();
    Ok(Fetched {
        rows,
        log: Vec::new(),
    })
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Text(t) => Some(t.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(r) => Some(r.to_string()),
        Value::Null | Value::Blob(_) => None,
    }
}
