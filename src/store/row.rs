//! Reading loosely typed columns: libsql hands back `Value`s, and SQLite may store an integer
//! where a real was written, or NULL where a count is empty.

use chrono::NaiveDateTime;
use libsql::Value;

use super::error::{SqlContext, StoreError};

/// The first `n` columns of a row.
pub(super) fn columns(row: &libsql::Row, n: i32, context: &str) -> Result<Vec<Value>, StoreError> {
    (0..n)
        .map(|i| row.get_value(i))
        .collect::<Result<_, _>>()
        .context(context)
}

pub(super) fn text(value: Value) -> Option<String> {
    match value {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

pub(super) fn real(value: &Value) -> Option<f64> {
    match value {
        Value::Real(v) => Some(*v),
        Value::Integer(v) => Some(*v as f64),
        _ => None,
    }
}

pub(super) fn count(value: &Value) -> u32 {
    match value {
        Value::Integer(v) => u32::try_from(*v).unwrap_or(u32::MAX),
        _ => 0,
    }
}

pub(super) fn wide(value: &Value) -> u64 {
    match value {
        Value::Integer(v) => u64::try_from(*v).unwrap_or(0),
        _ => 0,
    }
}

/// The first column of the first row, as an id (`INSERT … RETURNING id` and the like).
pub(super) async fn first_id(
    rows: &mut libsql::Rows,
    context: &str,
) -> Result<Option<i64>, StoreError> {
    match rows.next().await.context(context)? {
        Some(row) => Ok(Some(row.get::<i64>(0).context(context)?)),
        None => Ok(None),
    }
}

/// The first column of every row, read as timestamps (unreadable ones skipped).
pub(super) async fn timestamps(
    rows: &mut libsql::Rows,
    context: &str,
) -> Result<Vec<NaiveDateTime>, StoreError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().await.context(context)? {
        if let Some(ts) = text(row.get_value(0).context(context)?)
            .as_deref()
            .and_then(crate::timestamp::parse_lenient)
        {
            out.push(ts);
        }
    }
    Ok(out)
}
