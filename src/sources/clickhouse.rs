//! `db: clickhouse`: the batch's query over ClickHouse's HTTP interface (any version since
//! 2018), with results as `JSONCompact` (column names and types, then rows). Basic auth; the
//! server stops the query at `max_execution_time`.

use serde::Deserialize;

use super::table::{Cell, Table};
use super::{Fetched, SourceError, Sources};
use crate::http::without_url;

#[derive(Deserialize)]
struct Response {
    meta: Vec<Column>,
    data: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

pub async fn fetch(batch: &str, sources: &Sources, sql: &str) -> Result<Fetched, SourceError> {
    let settings = sources.settings();
    let Some(ch) = &settings.clickhouse else {
        return Err(SourceError::failed(
            batch,
            "db `clickhouse` needs ANOMSTACK_CLICKHOUSE_HOST (and _PORT, _USER, _PASSWORD, _DATABASE)",
        ));
    };
    let failed = |m: String| SourceError::failed(batch, format!("clickhouse: {m}"));
    let http = sources.http().map_err(failed)?;
    let timeout = settings.query_timeout;
    let response = http
        .post(format!("{}/", ch.url))
        .query(&[
            ("database", ch.database.as_str()),
            ("default_format", "JSONCompact"),
            ("max_execution_time", &timeout.as_secs().to_string()),
        ])
        .basic_auth(&ch.user, Some(ch.password.expose()))
        .timeout(timeout + std::time::Duration::from_secs(5))
        .body(sql.trim().trim_end_matches(';').to_owned())
        .send()
        .await
        .map_err(|e| failed(format!("cannot reach {}: {}", ch.url, without_url(&e))))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| failed(format!("reading the answer: {}", without_url(&e))))?;
    if !status.is_success() {
        return Err(failed(format!("HTTP {status}: {}", body.trim())));
    }
    let parsed: Response = serde_json::from_str(&body).map_err(|e| {
        failed(format!(
            "the answer is not JSONCompact ({e}); does the query end with its own FORMAT clause?"
        ))
    })?;
    table(parsed).into_fetched(batch)
}

fn table(response: Response) -> Table {
    let kinds: Vec<String> = response.meta.iter().map(|c| base_type(&c.kind)).collect();
    Table {
        columns: response.meta.into_iter().map(|c| c.name).collect(),
        rows: response
            .data
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .zip(&kinds)
                    .map(|(v, kind)| cell(v, kind))
                    .collect()
            })
            .collect(),
    }
}

/// `Nullable(LowCardinality(String))` → `String`, `Decimal(18, 2)` → `Decimal`.
fn base_type(kind: &str) -> String {
    let mut k = kind.trim();
    for wrapper in ["Nullable(", "LowCardinality("] {
        while let Some(inner) = k.strip_prefix(wrapper) {
            k = inner.strip_suffix(')').unwrap_or(inner);
        }
    }
    k.split('(').next().unwrap_or(k).to_owned()
}

fn cell(value: serde_json::Value, kind: &str) -> Cell {
    use serde_json::Value as J;
    let numeric = kind.starts_with("Int")
        || kind.starts_with("UInt")
        || kind.starts_with("Float")
        || kind.starts_with("Decimal");
    match value {
        J::Null => Cell::Null,
        J::Number(n) => n.as_f64().map_or(Cell::Null, Cell::Number),
        J::Bool(b) => Cell::Number(f64::from(u8::from(b))),
        // 64-bit integers and decimals come quoted, so JSON readers keep their precision.
        J::String(s) if numeric => Cell::numeric_text(s),
        J::String(s) => Cell::Text(s),
        other => Cell::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_types_and_quoted_integers_become_numbers() {
        assert_eq!(base_type("Nullable(LowCardinality(String))"), "String");
        assert_eq!(base_type("Decimal(18, 2)"), "Decimal");
        assert_eq!(base_type("DateTime('UTC')"), "DateTime");
        assert_eq!(
            cell(serde_json::json!("18446744073709551615"), "UInt64"),
            Cell::Number(18446744073709551615.0)
        );
        assert_eq!(
            cell(serde_json::json!("2024-01-01 00:00:00"), "DateTime"),
            Cell::Text("2024-01-01 00:00:00".into())
        );
        assert_eq!(cell(serde_json::json!(null), "Float64"), Cell::Null);
    }
}
