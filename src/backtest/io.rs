//! Files of the backtest: series CSVs in, per-row score CSVs out, and the NAB layout
//! (`data/<category>/*.csv` with `labels/combined_windows.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

use super::BacktestError;
use crate::timestamp::parse_lenient;

/// A series as read: timestamps as written (they are echoed back), parsed times, values.
#[derive(Debug, Clone)]
pub struct Series {
    pub raw_timestamps: Vec<String>,
    pub times: Vec<NaiveDateTime>,
    pub values: Vec<f64>,
}

impl Series {
    pub fn points(&self) -> Vec<(i64, f64)> {
        self.times
            .iter()
            .zip(&self.values)
            .map(|(t, v)| (t.and_utc().timestamp(), *v))
            .collect()
    }
}

/// Reads a `timestamp,value` CSV (header required; columns found by name, else the first
/// two). A bad row is an error naming the file and line.
pub fn read_series(path: &Path) -> Result<Series, BacktestError> {
    let text = std::fs::read_to_string(path).map_err(|e| BacktestError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let bad = |line: usize, reason: String| BacktestError::BadRow {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .ok_or_else(|| bad(1, "the file is empty".into()))?;
    let names: Vec<String> = header
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let find = |options: &[&str], default: usize| {
        names
            .iter()
            .position(|n| options.contains(&n.as_str()))
            .unwrap_or(default)
    };
    let ts_col = find(&["timestamp", "metric_timestamp", "time", "ts"], 0);
    let value_col = find(&["value", "metric_value"], 1);
    let mut series = Series {
        raw_timestamps: Vec::new(),
        times: Vec::new(),
        values: Vec::new(),
    };
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let ts_text = cells
            .get(ts_col)
            .ok_or_else(|| bad(i + 1, "missing timestamp column".into()))?;
        let value_text = cells
            .get(value_col)
            .ok_or_else(|| bad(i + 1, "missing value column".into()))?;
        let time = parse_lenient(ts_text)
            .ok_or_else(|| bad(i + 1, format!("unreadable timestamp {ts_text:?}")))?;
        let value: f64 = value_text
            .parse()
            .map_err(|_| bad(i + 1, format!("value {value_text:?} is not a number")))?;
        series.raw_timestamps.push((*ts_text).to_owned());
        series.times.push(time);
        series.values.push(value);
    }
    Ok(series)
}

/// Writes `timestamp,value,anomaly_score,alert`, one row per input row.
pub fn write_scores(
    path: &Path,
    series: &Series,
    rows: &[super::ReplayRow],
) -> Result<(), BacktestError> {
    let io = |e: std::io::Error| BacktestError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut text = String::from("timestamp,value,anomaly_score,alert\n");
    for ((ts, v), r) in series.raw_timestamps.iter().zip(&series.values).zip(rows) {
        text.push_str(&format!("{ts},{v},{},{}\n", r.score, u8::from(r.alert)));
    }
    std::fs::write(path, text).map_err(io)
}

/// Every `*.csv` under `dir`, as paths relative to it, sorted.
pub fn csv_files(dir: &Path) -> Result<Vec<PathBuf>, BacktestError> {
    let mut out = Vec::new();
    collect(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BacktestError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BacktestError::Io {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "csv")
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

/// `labels/combined_windows.json`: file key (`category/name.csv`) → windows as timestamps.
pub fn read_windows(
    path: &Path,
) -> Result<BTreeMap<String, Vec<(NaiveDateTime, NaiveDateTime)>>, BacktestError> {
    let text = std::fs::read_to_string(path).map_err(|e| BacktestError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let raw: BTreeMap<String, Vec<Vec<String>>> =
        serde_json::from_str(&text).map_err(|e| BacktestError::Io {
            path: path.to_path_buf(),
            reason: format!("invalid labels: {e}"),
        })?;
    raw.into_iter()
        .map(|(key, windows)| {
            let parsed = windows
                .iter()
                .map(|w| {
                    let start = w.first().and_then(|t| parse_lenient(t));
                    let end = w.get(1).and_then(|t| parse_lenient(t));
                    start.zip(end).ok_or_else(|| BacktestError::Io {
                        path: path.to_path_buf(),
                        reason: format!("{key}: unreadable window {w:?}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, parsed))
        })
        .collect()
}

/// Windows as inclusive row ranges of `series`, by the first row at each end's timestamp.
pub fn window_rows(
    series: &Series,
    windows: &[(NaiveDateTime, NaiveDateTime)],
) -> Vec<(usize, usize)> {
    windows
        .iter()
        .filter_map(|(start, end)| {
            let l = series.times.iter().position(|t| t == start)?;
            let r = series.times.iter().position(|t| t == end)?;
            Some((l, r))
        })
        .collect()
}
