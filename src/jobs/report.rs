//! What a run did ([`JobReport`]) and why one failed ([`JobError`]).

use std::fmt;

use crate::model_store::ModelStoreError;
use crate::sources::SourceError;
use crate::store::StoreError;

use crate::notify::Notice;
use crate::notify::thread::Part;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct JobReport {
    pub rows_read: u64,
    pub rows_written: u64,
    /// Metrics left out, with why (young metric, no model yet, ...): not failures.
    pub skipped: Vec<String>,
    pub log: Vec<String>,
    pub notices: Vec<Notice>,
    /// Each notice's part in incidents (empty: every notice told on its own).
    pub parts: Vec<Part>,
}

impl JobReport {
    pub(crate) fn note(&mut self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!("{line}");
        self.log.push(line);
    }

    pub(crate) fn skip(&mut self, metric: &str, reason: impl fmt::Display) {
        self.skipped.push(format!("{metric}: {reason}"));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Models(#[from] ModelStoreError),
    #[error("batch `{batch}`: {message}")]
    Config { batch: String, message: String },
    #[error("the job's worker stopped: {0}")]
    Worker(String),
}
