//! Store errors. Each says what was being done; database locations are shown without
//! credentials.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the database {location}: {source}")]
    Open {
        location: String,
        source: libsql::Error,
    },
    #[error(
        "{context}: the database did not answer ({source}); the job is tried again when it is back"
    )]
    Unreachable {
        context: String,
        source: libsql::Error,
    },
    #[error("{context}: {source}")]
    Sql {
        context: String,
        source: libsql::Error,
    },
    #[error(
        "the database schema is version {found}, newer than this anomstack supports ({supported}); upgrade anomstack or point it at another database"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: u32,
        name: &'static str,
        source: libsql::Error,
    },
    #[error("`{0}` is not a valid table name")]
    InvalidTable(String),
    #[error("cannot take over the metrics table `{table}`: {reason}")]
    Adopt { table: String, reason: String },
    #[error("{context}: row {row}: {reason}")]
    BadRow {
        context: String,
        row: usize,
        reason: String,
    },
    #[error("{0}")]
    Busy(String),
    #[error("embedded replicas need the `turso-replica` feature; this binary was built without it")]
    ReplicaUnavailable,
    #[error(
        "the database {location} refuses writes with this token (a read-only token?): anomstack writes metrics, runs and its queue, so it needs a token with write access (turso db tokens create <db>, without --read-only)"
    )]
    ReadOnly { location: String },
    #[error(
        "the primary of {location} is another database now (recreated, or restored from elsewhere), so this replica no longer matches it: restart anomstack to set the old replica aside and pull a new one"
    )]
    ReplicaReplaced { location: String },
    #[error("cannot sync the replica {location} from its primary: {source}")]
    Sync {
        location: String,
        source: libsql::Error,
    },
}

impl StoreError {
    /// Whether the database could not be reached (a server down, restarting or too slow to
    /// answer), rather than refusing what was asked: worth asking again later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Open { source, .. } | Self::Sync { source, .. } => unreachable(source),
            _ => false,
        }
    }

    /// Whether a statement ran out of its time limit (`ANOMSTACK_DB_TIMEOUT_SECONDS`): the
    /// database may be away, or the statement too slow for the limit, so unlike a refused
    /// connection, trying again counts as an attempt.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Unreachable { source, .. } if super::pool::is_timeout(source))
    }
}

/// Failures of the connection itself, as the remote client and the replica's write
/// forwarding word them (libsql has no error kind for them), and the store's own timeouts.
/// (libsql's `ConnectionFailed` alone also means a local file that cannot be opened.)
fn unreachable(e: &libsql::Error) -> bool {
    const SIGNS: [&str; 14] = [
        "504 gateway timeout",
        "goaway",
        "status: deadlineexceeded",
        "error trying to connect",
        "connection refused",
        "connection reset",
        "connection closed",
        "broken pipe",
        "incomplete message",
        "unexpected eof",
        "transport error",
        "status: unavailable",
        "502 bad gateway",
        "503 service unavailable",
    ];
    if super::pool::is_timeout(e) {
        return true;
    }
    let text = e.to_string().to_ascii_lowercase();
    SIGNS.iter().any(|sign| text.contains(sign))
}

/// Adds a sentence of context to a libsql error.
pub(crate) trait SqlContext<T> {
    fn context(self, what: impl Into<String>) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, libsql::Error> {
    fn context(self, what: impl Into<String>) -> Result<T, StoreError> {
        self.map_err(|source| {
            if unreachable(&source) {
                StoreError::Unreachable {
                    context: what.into(),
                    source,
                }
            } else {
                StoreError::Sql {
                    context: what.into(),
                    source,
                }
            }
        })
    }
}
