//! Where a batch's metrics come from: its `ingest_sql` run on the engine `db` names, or a
//! program (`ingest_cmd`, or an original Anomstack Python `ingest_fn`). Sources return raw
//! rows; the ingest job normalises and stores them. Sources never write the app database.

mod command;
mod python;
mod sqlite;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Batch, DbKind, Templates};
use crate::store::Store;

pub use command::parse_program_output;

/// A row as the source gave it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    pub timestamp: Option<String>,
    pub name: Option<String>,
    pub value: RawValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Number(f64),
    Text(String),
    Missing,
}

/// What a source returned, with anything it printed on stderr.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub rows: Vec<RawRow>,
    pub log: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("batch `{batch}`: {message}")]
    Failed { batch: String, message: String },
    #[error("batch `{batch}`: ingest timed out after {seconds} s")]
    Timeout { batch: String, seconds: u64 },
}

impl SourceError {
    fn failed(batch: &str, message: impl Into<String>) -> Self {
        SourceError::Failed {
            batch: batch.to_owned(),
            message: message.into(),
        }
    }
}

/// Runs the batch's ingest at logical time `run_ts`.
pub async fn fetch(
    batch: &Batch,
    store: &Store,
    templates: &Templates,
    run_ts: DateTime<Utc>,
) -> Result<Fetched, SourceError> {
    let spec = &batch.spec;
    let name = batch.name();
    let timeout = Duration::from_secs(spec.ingest_timeout_seconds.max(1));
    let render = |source: &str| {
        templates
            .render(source, spec, run_ts)
            .map_err(|e| SourceError::failed(name, format!("template error: {e}")))
    };
    let work = async {
        if let Some(sql) = &spec.ingest_sql {
            let sql = render(sql)?;
            match spec.db {
                DbKind::Sqlite => sqlite::fetch(name, store, &sql).await,
                other => Err(SourceError::failed(
                    name,
                    format!("db `{}` is not available in this build", other.as_str()),
                )),
            }
        } else if let Some(cmd) = &spec.ingest_cmd {
            command::fetch(name, cmd, batch.dir(), run_ts).await
        } else if let Some(source) = &spec.ingest_fn {
            let source = render(source)?;
            python::fetch(name, &source, batch.dir(), run_ts).await
        } else {
            Err(SourceError::failed(
                name,
                "no ingest_sql, ingest_cmd or ingest_fn (ingest is disabled for this batch)",
            ))
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| SourceError::Timeout {
            batch: name.to_owned(),
            seconds: timeout.as_secs(),
        })?
}
