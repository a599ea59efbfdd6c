//! `db: clickhouse`: the batch's query over ClickHouse's HTTP interface (any version since
//! 2018), with results as `JSONCompact` (column names and types, then rows). Basic auth; the
//! server stops the query at `max_execution_time`.

use serde::Deserialize;

use super::table::{Cell, Table};
use super::{Fetched, Limits, SourceError, Sources};
use crate::config::ClickhouseSettings;
use crate::config::mask::mask_url_password;
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

pub async fn fetch(
    batch: &str,
    sources: &Sources,
    limits: Limits,
    sql: &str,
) -> Result<Fetched, SourceError> {
    let settings = sources.settings();
    let Some(ch) = &settings.clickhouse else {
        return Err(SourceError::failed(
            batch,
            "db `clickhouse` needs ANOMSTACK_CLICKHOUSE_HOST (and _PORT, _USER, _PASSWORD, _DATABASE)",
        ));
    };
    let failed = |m: String| SourceError::failed(batch, format!("clickhouse: {m}"));
    let http = sources.http().map_err(failed)?;
    // The format goes in the query, not a setting: users with `readonly=1` may not change
    // settings at all.
    let query = format!("{}\nFORMAT JSONCompact", sql.trim().trim_end_matches(';'));
    let timeout = limits.timeout.as_secs().to_string();
    let max_rows = limits.max_rows.to_string();
    let settings: [(&str, &str); 6] = [
        // Times in UTC (ISO 8601 with Z) whatever the server's or column's zone.
        ("date_time_output_format", "iso"),
        ("max_execution_time", &timeout),
        ("max_result_rows", &max_rows),
        ("result_overflow_mode", "throw"),
        // An error halfway through a result comes back as an error, not as cut-off JSON.
        ("wait_end_of_query", "1"),
        ("database", &ch.database),
    ];
    let mut body = send(&http, ch, &settings, &query, limits)
        .await
        .map_err(&failed)?;
    if let Err(message) = &body
        && (message.contains("Unknown setting") || message.contains("readonly mode"))
    {
        // Servers before 20.7 lack some of these settings; read-only users may set none.
        // Times then come in the server's zone.
        body = send(&http, ch, &settings[5..], &query, limits)
            .await
            .map_err(&failed)?;
    }
    let text = body.map_err(&failed)?;
    let parsed: Response = serde_json::from_str(&text).map_err(|e| {
        failed(format!(
            "the answer is not JSONCompact ({e}); does the query end with its own FORMAT clause?"
        ))
    })?;
    limits.check_rows(parsed.data.len()).map_err(&failed)?;
    table(parsed).into_fetched(batch)
}

/// One request: `Ok(Ok(body))` on success, `Ok(Err(server message))` when ClickHouse refused
/// the query, `Err` when it could not be asked.
async fn send(
    http: &reqwest::Client,
    ch: &ClickhouseSettings,
    settings: &[(&str, &str)],
    query: &str,
    limits: Limits,
) -> Result<Result<String, String>, String> {
    // The URL is shown without any password someone wrote into it.
    let shown = mask_url_password(&ch.url).unwrap_or_else(|| ch.url.clone());
    let response = http
        .post(format!("{}/", ch.url))
        .query(settings)
        .basic_auth(&ch.user, Some(ch.password.expose()))
        .timeout(limits.timeout + std::time::Duration::from_secs(5))
        .body(query.to_owned())
        .send()
        .await
        .map_err(|e| format!("cannot reach {shown}: {}", without_url(&e)))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading the answer: {}", without_url(&e)))?;
    if status.is_success() {
        Ok(Ok(body))
    } else {
        let message: String = body.trim().chars().take(1000).collect();
        Ok(Err(format!("HTTP {status}: {message}")))
    }
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
