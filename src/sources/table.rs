//! A query's result as an engine returned it, turned into raw metric rows: the three columns
//! found by name whatever their case (Snowflake upper-cases, others keep the query's case), and
//! typed values kept typed until the ingest job validates them.

use chrono::NaiveDateTime;

use super::{Fetched, RawRow, RawValue, SourceError};

/// One value of a result, after the engine's own types were read.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cell {
    #[default]
    Null,
    Number(f64),
    Text(String),
    /// A UTC time (engines' timestamp types, converted to UTC where they carry a zone).
    Time(NaiveDateTime),
}

/// Column names and rows, as an engine returned them.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

const COLUMNS: [&str; 3] = ["metric_timestamp", "metric_name", "metric_value"];

impl Table {
    /// Where each of the three metric columns is, or an error naming the missing one and
    /// listing what the query returned.
    pub fn positions(columns: &[String], batch: &str) -> Result<[usize; 3], SourceError> {
        let mut at = [0; 3];
        for (slot, wanted) in at.iter_mut().zip(COLUMNS) {
            *slot = columns
                .iter()
                .position(|c| c.trim().eq_ignore_ascii_case(wanted))
                .ok_or_else(|| {
                    SourceError::failed(
                        batch,
                        format!(
                            "ingest_sql must return a `{wanted}` column (it returned: {})",
                            columns.join(", ")
                        ),
                    )
                })?;
        }
        Ok(at)
    }

    pub fn into_fetched(self, batch: &str) -> Result<Fetched, SourceError> {
        let [ts, name, value] = Self::positions(&self.columns, batch)?;
        let rows = self
            .rows
            .into_iter()
            .map(|mut row| {
                let mut take = |i: usize| row.get_mut(i).map_or(Cell::Null, std::mem::take);
                RawRow {
                    timestamp: take(ts).into_text(),
                    name: take(name).into_text(),
                    value: match take(value) {
                        Cell::Number(v) => RawValue::Number(v),
                        Cell::Text(t) => RawValue::Text(t),
                        Cell::Null | Cell::Time(_) => RawValue::Missing,
                    },
                }
            })
            .collect();
        Ok(Fetched {
            rows,
            ..Fetched::default()
        })
    }
}

impl Cell {
    fn into_text(self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Text(t) => Some(t),
            Cell::Number(n) => Some(n.to_string()),
            Cell::Time(t) => Some(crate::timestamp::format_db(t)),
        }
    }

    /// A number an engine sent as text (64-bit integers and decimals travel as strings in
    /// JSON APIs): parsed when it is one, kept as text otherwise (the ingest job rejects it
    /// and says why).
    pub fn numeric_text(text: String) -> Cell {
        match text.trim().parse::<f64>() {
            Ok(v) => Cell::Number(v),
            Err(_) => Cell::Text(text),
        }
    }

    /// Seconds (with a fraction) since the epoch, as BigQuery and Snowflake send times.
    pub fn epoch_seconds(text: &str) -> Option<Cell> {
        let text = text.trim();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let negative = whole.starts_with('-');
        let secs: i64 = whole.parse().ok()?;
        let nanos: u32 = if frac.is_empty() {
            0
        } else {
            let digits: String = frac.chars().take(9).collect();
            let padded = format!("{digits:0<9}");
            padded.parse().ok()?
        };
        // Negative times with a fraction count back from the whole second.
        let (secs, nanos) = if negative && nanos > 0 {
            (secs.checked_sub(1)?, 1_000_000_000 - nanos)
        } else {
            (secs, nanos)
        };
        chrono::DateTime::from_timestamp(secs, nanos).map(|t| Cell::Time(t.naive_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_whatever_their_case_and_order() {
        let table = Table {
            columns: vec![
                "METRIC_VALUE".into(),
                "Metric_Name".into(),
                "metric_timestamp".into(),
            ],
            rows: vec![vec![
                Cell::Number(1.5),
                Cell::Text("m".into()),
                Cell::Time(
                    chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
                        .and_then(|d| d.and_hms_opt(3, 4, 5))
                        .unwrap(),
                ),
            ]],
        };
        let fetched = table.into_fetched("b").unwrap();
        assert_eq!(
            fetched.rows[0].timestamp.as_deref(),
            Some("2024-01-02 03:04:05")
        );
        assert_eq!(fetched.rows[0].name.as_deref(), Some("m"));
        assert_eq!(fetched.rows[0].value, RawValue::Number(1.5));
    }

    #[test]
    fn a_missing_column_is_named_with_what_came_back() {
        let table = Table {
            columns: vec!["ts".into(), "metric_name".into(), "metric_value".into()],
            rows: vec![],
        };
        let err = table.into_fetched("sales").unwrap_err().to_string();
        assert!(
            err.contains("sales") && err.contains("`metric_timestamp`"),
            "{err}"
        );
        assert!(err.contains("ts, metric_name, metric_value"), "{err}");
    }

    #[test]
    fn epoch_seconds_keep_fractions_and_handle_negatives() {
        let t = |s: &str| match Cell::epoch_seconds(s) {
            Some(Cell::Time(t)) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(t("1700000000.250000000"), "2023-11-14 22:13:20.250");
        assert_eq!(t("1700000000"), "2023-11-14 22:13:20.000");
        assert_eq!(t("-0.5"), "1969-12-31 23:59:59.500");
        assert!(Cell::epoch_seconds("soon").is_none());
        assert_eq!(Cell::numeric_text("12.50".into()), Cell::Number(12.5));
        assert_eq!(Cell::numeric_text("n/a".into()), Cell::Text("n/a".into()));
    }
}
