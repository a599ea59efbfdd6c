//! What the tools' arguments and answers share: times in (ISO-8601, the database's format, or
//! a span back from now such as `24h`) and out (ISO-8601 UTC), and rounding for compact JSON.

use chrono::NaiveDateTime;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ToolError;
use crate::store::Window;
use crate::timestamp::parse_lenient;

/// A time as every answer writes it: ISO-8601 UTC.
pub fn iso(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Four decimals: scores and ratios beyond that are noise to a reader and cost tokens.
pub fn round4(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10_000.0).round() / 10_000.0
    } else {
        x
    }
}

/// A time argument: an ISO-8601 time (`2026-05-01T12:00:00Z`), the database's
/// `2026-05-01 12:00:00`, or a span back from `now` (`45m`, `24h`, `7d`). The error names
/// the field and the value.
pub fn parse_time(field: &str, raw: &str, now: NaiveDateTime) -> Result<NaiveDateTime, ToolError> {
    if let Some(t) = parse_lenient(raw) {
        return Ok(t);
    }
    if let Some(span) = raw.parse::<Window>().ok().and_then(Window::span) {
        return Ok(now - span);
    }
    Err(ToolError::BadInput(format!(
        "`{field}`: expected an ISO-8601 time such as 2026-05-01T12:00:00Z or a span back from now such as 24h or 7d, got `{}`",
        raw.chars().take(60).collect::<String>()
    )))
}

/// A tool's arguments as its struct; the error names the field serde found wrong.
pub fn parse_args<T: DeserializeOwned>(
    tool: &str,
    arguments: Option<Map<String, Value>>,
) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(arguments.unwrap_or_default()))
        .map_err(|e| ToolError::BadInput(format!("{tool}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_iso_as_stored_or_as_a_span_back() {
        let now = parse_lenient("2026-05-02 12:00:00").unwrap();
        let at = parse_lenient("2026-05-01 12:00:00").unwrap();
        assert_eq!(parse_time("at", "2026-05-01T12:00:00Z", now).unwrap(), at);
        assert_eq!(parse_time("at", "2026-05-01 12:00:00", now).unwrap(), at);
        assert_eq!(parse_time("since", "24h", now).unwrap(), at);
        let err = parse_time("since", "yesterday", now)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`since`") && err.contains("yesterday"),
            "{err}"
        );
        assert_eq!(iso(at), "2026-05-01T12:00:00Z");
        assert_eq!(round4(0.123456), 0.1235);
    }
}
