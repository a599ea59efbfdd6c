//! `ingest_cmd`: any program, run from the batch's folder with `ANOMSTACK_RUN_TS` and
//! `ANOMSTACK_BATCH` set, printing CSV (with a header) or JSON lines with `metric_timestamp`,
//! `metric_name` and `metric_value` on stdout. Its stderr goes to the run's log.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{Fetched, RawRow, RawValue, SourceError};
use crate::config::TIMESTAMP_FORMAT;

pub async fn fetch(
    batch: &str,
    cmd: &str,
    dir: &Path,
    run_ts: DateTime<Utc>,
    max_rows: usize,
) -> Result<Fetched, SourceError> {
    let mut parts = cmd.split_whitespace();
    let Some(program) = parts.next() else {
        return Err(SourceError::failed(batch, "ingest_cmd is empty"));
    };
    // The program runs from the batch's folder, so a relative path must not be resolved
    // twice: make it absolute first.
    let program_path = if program.contains('/') {
        std::path::absolute(dir.join(program))
            .map_err(|e| SourceError::failed(batch, format!("cannot resolve `{program}`: {e}")))?
    } else {
        program.into()
    };
    let child = Command::new(&program_path)
        .args(parts)
        .current_dir(dir)
        .env(
            "ANOMSTACK_RUN_TS",
            run_ts.format(TIMESTAMP_FORMAT).to_string(),
        )
        .env("ANOMSTACK_BATCH", batch)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SourceError::failed(batch, format!("cannot run `{program}`: {e}")))?;
    collect(batch, program, child, max_rows).await
}

/// Longest output line kept (a row is a few dozen bytes; this only stops runaway output).
const MAX_LINE_BYTES: usize = 1 << 20;
/// Lines of stderr kept for the run log (the last ones).
const LOG_LINES: usize = 50;
/// Longest stderr line kept in the log.
const LOG_LINE_CHARS: usize = 2000;

/// Reads a running program's output without holding more than the row limit allows: past
/// `max_rows` rows (or a line over 1 MiB) the program is killed and the ingest fails, so a
/// runaway program cannot fill the server's memory. Keeps the last lines of stderr for the log.
pub(super) async fn collect(
    batch: &str,
    program: &str,
    mut child: Child,
    max_rows: usize,
) -> Result<Fetched, SourceError> {
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(SourceError::failed(
            batch,
            format!("`{program}` has no output pipes"),
        ));
    };
    let log_task = tokio::spawn(last_lines(stderr));
    let mut reader = BufReader::new(stdout);
    let mut text = String::new();
    let mut line = Vec::new();
    let mut rows = 0usize;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| {
                SourceError::failed(batch, format!("cannot read `{program}`'s output: {e}"))
            })?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(SourceError::failed(
                batch,
                format!("`{program}` printed a line longer than 1 MiB: stopped"),
            ));
        }
        let piece = String::from_utf8_lossy(&line);
        if !piece.trim().is_empty() {
            rows += 1;
            // One more than the limit: the CSV header is not a row.
            if rows > max_rows.saturating_add(1) {
                return Err(SourceError::failed(
                    batch,
                    format!(
                        "`{program}` printed more than {max_rows} rows \
                         (ANOMSTACK_SOURCE_MAX_ROWS): stopped"
                    ),
                ));
            }
        }
        text.push_str(&piece);
    }
    let status = child
        .wait()
        .await
        .map_err(|e| SourceError::failed(batch, format!("`{program}` failed: {e}")))?;
    let log = log_task.await.unwrap_or_default();
    if !status.success() {
        let tail = log[log.len().saturating_sub(5)..].join(" | ");
        return Err(SourceError::failed(
            batch,
            format!("`{program}` exited with {status}: {tail}"),
        ));
    }
    let rows = parse_program_output(&text).map_err(|e| SourceError::failed(batch, e))?;
    Ok(Fetched {
        rows,
        log,
        notes: Vec::new(),
    })
}

/// The last [`LOG_LINES`] lines of a stream, each cut to [`LOG_LINE_CHARS`] characters.
async fn last_lines(stream: impl AsyncRead + Unpin) -> Vec<String> {
    let mut reader = BufReader::new(stream);
    let mut kept = VecDeque::with_capacity(LOG_LINES);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text: String = String::from_utf8_lossy(&line)
                    .trim_end()
                    .chars()
                    .take(LOG_LINE_CHARS)
                    .collect();
                if kept.len() == LOG_LINES {
                    kept.pop_front();
                }
                kept.push_back(text);
            }
        }
    }
    kept.into()
}

/// CSV with a header, or JSON lines (objects), detected from the first non-empty line.
pub fn parse_program_output(text: &str) -> Result<Vec<RawRow>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    let Some(first) = lines.peek().copied() else {
        return Ok(Vec::new());
    };
    if first.trim_start().starts_with('{') {
        lines
            .enumerate()
            .map(|(i, line)| {
                let v: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| format!("output line {}: not JSON: {e}", i + 1))?;
                let text = |k: &str| match v.get(k) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                Ok(RawRow {
                    timestamp: text("metric_timestamp"),
                    name: text("metric_name"),
                    value: match v.get("metric_value") {
                        Some(serde_json::Value::Number(n)) => {
                            n.as_f64().map_or(RawValue::Missing, RawValue::Number)
                        }
                        Some(serde_json::Value::String(s)) => RawValue::Text(s.clone()),
                        _ => RawValue::Missing,
                    },
                })
            })
            .collect()
    } else {
        let header: Vec<String> = csv_cells(lines.next().unwrap_or_default())
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("the CSV header has no `{name}` column"))
        };
        let (ts, name, value) = (
            col("metric_timestamp")?,
            col("metric_name")?,
            col("metric_value")?,
        );
        Ok(lines
            .map(|line| {
                let cells = csv_cells(line);
                let get = |i: usize| {
                    cells
                        .get(i)
                        .map(|c| c.trim())
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                };
                RawRow {
                    timestamp: get(ts),
                    name: get(name),
                    value: get(value).map_or(RawValue::Missing, RawValue::Text),
                }
            })
            .collect())
    }
}

/// One CSV line's fields: commas inside double quotes stay, `""` is a quote (RFC 4180, one
/// record per line).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_lines_are_read() {
        let rows = parse_program_output(
            "metric_timestamp,metric_name,metric_value\n2024-01-01 00:00:00,a,1.5\n2024-01-01 00:00:00,b,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].value, RawValue::Text("1.5".into()));
        assert_eq!(rows[1].value, RawValue::Missing);
        let rows = parse_program_output(
            "{\"metric_timestamp\": \"2024-01-01T00:00:00Z\", \"metric_name\": \"a\", \"metric_value\": 2}\n",
        )
        .unwrap();
        assert_eq!(rows[0].value, RawValue::Number(2.0));
        assert!(parse_program_output("a,b\n1,2\n").is_err());
        let rows = parse_program_output(
            "\"metric_name\",metric_timestamp,metric_value\r\n\"sales, \"\"EU\"\"\",2024-01-01,3\r\n",
        )
        .unwrap();
        assert_eq!(rows[0].name.as_deref(), Some("sales, \"EU\""));
        assert_eq!(rows[0].value, RawValue::Text("3".into()));
        assert!(parse_program_output("").unwrap().is_empty());
    }
}
