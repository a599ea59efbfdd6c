//! Timestamps at the edges. Inside, every time is UTC; in the app database it is text
//! `YYYY-MM-DD HH:MM:SS`, which sorts and compares correctly as a string (the original's format,
//! so users' own queries keep working). Parsing accepts the formats sources commonly produce.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};

pub use crate::config::TIMESTAMP_FORMAT;

/// The database text form of a UTC time, truncated to the second.
pub fn format_db(ts: NaiveDateTime) -> String {
    ts.format(TIMESTAMP_FORMAT).to_string()
}

/// Reads a timestamp written by us, by the original Anomstack, or by a source query: with or
/// without `T`, fractional seconds, a UTC offset (converted to UTC) or only a date. Fractions
/// of a second are dropped, as the database keeps whole seconds.
pub fn parse_lenient(raw: &str) -> Option<NaiveDateTime> {
    let text = raw.trim();
    if let Some(ts) = parse_db(text) {
        return Some(ts);
    }
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Some(truncate(ts.with_timezone(&Utc).naive_utc()));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%#z",
    ] {
        if let Ok(ts) = DateTime::parse_from_str(text, fmt) {
            return Some(truncate(ts.with_timezone(&Utc).naive_utc()));
        }
    }
    let text = text.trim_end_matches(" UTC").trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(text, fmt) {
            return Some(truncate(ts));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// The database's own `YYYY-MM-DD HH:MM:SS`, read without a format parser: every job reads
/// millions of these.
fn parse_db(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?.and_hms_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

/// A duration such as `30s`, `5m`, `2h`, `1d` or `1w`.
pub fn parse_duration(text: &str) -> Option<chrono::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit.trim() {
        "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    chrono::Duration::try_seconds(n.checked_mul(seconds)?)
}

fn truncate(ts: NaiveDateTime) -> NaiveDateTime {
    ts.with_nanosecond(0).unwrap_or(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, TIMESTAMP_FORMAT).unwrap()
    }

    #[test]
    fn common_formats_parse_to_utc_seconds() {
        let want = ts("2024-03-01 12:30:45");
        for raw in [
            "2024-03-01 12:30:45",
            "2024-03-01T12:30:45",
            "2024-03-01T12:30:45Z",
            "2024-03-01 12:30:45.123456",
            "2024-03-01 12:30:45.5+00:00",
            "2024-03-01T13:30:45+01:00",
            "2024-03-01 13:30:45+0100",
            "2024-03-01 12:30:45 UTC",
        ] {
            assert_eq!(parse_lenient(raw), Some(want), "{raw}");
        }
        assert_eq!(parse_lenient("2024-03-01"), Some(ts("2024-03-01 00:00:00")));
        assert_eq!(parse_lenient("yesterday"), None);
        assert_eq!(parse_lenient("2024-13-01 00:00:00"), None);
        // The database form's fast path agrees with the format parser, and refuses what it
        // should not accept.
        assert_eq!(
            parse_db("2024-02-29 23:59:59"),
            Some(ts("2024-02-29 23:59:59"))
        );
        assert_eq!(parse_db("2023-02-29 00:00:00"), None);
        assert_eq!(parse_db("2024-03-01 24:00:00"), None);
        assert_eq!(parse_db("2024-03-01 1a:00:00"), None);
        assert_eq!(parse_db("2024-03-01T12:30:45"), None);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("5m"), Some(chrono::Duration::minutes(5)));
        assert_eq!(parse_duration("1d"), Some(chrono::Duration::days(1)));
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(
            parse_duration("9223372036854776s"),
            None,
            "too long, not a panic"
        );
    }

    #[test]
    fn database_form_round_trips() {
        let t = ts("2024-03-01 12:30:45");
        assert_eq!(parse_lenient(&format_db(t)), Some(t));
    }
}
