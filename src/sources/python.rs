//! `ingest_fn`: an original Anomstack Python source defining `ingest()` (returning a pandas
//! DataFrame), run with python3 through a small shim that prints JSON lines, so existing
//! metric folders keep working where python3 and pandas are installed.

use std::path::Path;
use std::process::Stdio;

use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::command::collect;
use super::{Fetched, SourceError};
use crate::config::TIMESTAMP_FORMAT;

/// Reads the user's source from stdin, runs `ingest()`, prints one JSON object per row.
const SHIM: &str = r#"
import json, sys
try:
    import pandas as pd
except ImportError:
    sys.stderr.write("ingest_fn needs pandas: pip install pandas\n")
    sys.exit(3)
source = sys.stdin.read()
scope = {}
exec(compile(source, "ingest_fn", "exec"), scope)
if "ingest" not in scope:
    sys.stderr.write("ingest_fn does not define ingest()\n")
    sys.exit(4)
df = scope["ingest"]()
for _, row in df.iterrows():
    ts = row.get("metric_timestamp")
    ts = ts.isoformat() if hasattr(ts, "isoformat") else (None if ts is None else str(ts))
    value = row.get("metric_value")
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = None if value is None else str(value)
    if isinstance(value, float) and value != value:
        value = None
    print(json.dumps({"metric_timestamp": ts, "metric_name": row.get("metric_name"), "metric_value": value}))
"#;

pub async fn fetch(
    batch: &str,
    python: &str,
    source: &str,
    dir: &Path,
    run_ts: DateTime<Utc>,
    max_rows: usize,
) -> Result<Fetched, SourceError> {
    let mut child = Command::new(python)
        .args(["-c", SHIM])
        .current_dir(dir)
        .env(
            "ANOMSTACK_RUN_TS",
            run_ts.format(TIMESTAMP_FORMAT).to_string(),
        )
        .env("ANOMSTACK_BATCH", batch)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            SourceError::failed(
                batch,
                format!(
                    "ingest_fn needs Python 3 with pandas: cannot run `{python}` ({e}); install \
                     it or set ANOMSTACK_PYTHON to its path"
                ),
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(source.as_bytes()).await.map_err(|e| {
            SourceError::failed(batch, format!("cannot pass ingest_fn to `{python}`: {e}"))
        })?;
    }
    collect(batch, "ingest_fn", child, max_rows).await
}
