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
///
/// The original ran `ingest_fn` inside a Dagster process, so its files import `dagster`
/// (`get_dagster_logger`) and `dotenv`, and may use `pd` and `get_dagster_logger` without
/// importing them. Where those packages are missing, small stand-ins take their place: the
/// logger is Python's own, writing to stderr (which the run log keeps), and `load_dotenv`
/// does nothing (the app already read `.env` into the environment this process inherits).
const SHIM: &str = r#"
import json, logging, sys, types
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
try:
    import pandas as pd
except ImportError:
    sys.stderr.write("ingest_fn needs pandas: pip install pandas\n")
    sys.exit(3)
def _stand_in(name, **names):
    try:
        __import__(name)
    except ImportError:
        module = types.ModuleType(name)
        module.__dict__.update(names)
        sys.modules[name] = module
def get_dagster_logger(name=None):
    return logging.getLogger(name or "ingest_fn")
_stand_in("dagster", get_dagster_logger=get_dagster_logger)
_stand_in("dotenv", load_dotenv=lambda *args, **kwargs: True,
          find_dotenv=lambda *args, **kwargs: "")
source = sys.stdin.read()
scope = {"__name__": "ingest_fn", "pd": pd, "get_dagster_logger": get_dagster_logger}
exec(compile(source, "ingest_fn", "exec"), scope)
if "ingest" not in scope:
    sys.stderr.write("ingest_fn does not define ingest()\n")
    sys.exit(4)
df = scope["ingest"]()
if df is None:
    sys.stderr.write("ingest() returned None; it must return a pandas DataFrame with metric_timestamp, metric_name and metric_value\n")
    sys.exit(5)
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
