//! Where a batch's metrics come from: its `ingest_sql` run on the engine `db` names, or a
//! program (`ingest_cmd`, or an original Anomstack Python `ingest_fn`). Sources return raw
//! rows; the ingest job normalises and stores them. Sources never write the app database.

#[cfg(feature = "bigquery")]
mod bigquery;
#[cfg(feature = "clickhouse")]
mod clickhouse;
mod command;
#[cfg(feature = "duckdb")]
mod duckdb;
#[cfg(any(feature = "bigquery", feature = "snowflake"))]
mod jwt;
#[cfg(feature = "postgres")]
mod postgres;
mod python;
#[cfg(feature = "snowflake")]
mod snowflake;
mod sqlite;
mod table;
#[cfg(feature = "turso")]
mod turso;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Batch, DbKind, SourceSettings, Templates};
use crate::dialect;
use crate::store::Store;

pub use command::parse_program_output;
pub use table::{Cell, Table};

/// How long one query may run and how many rows it may return.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Shorter than the batch's whole ingest, so the engine is told to stop the query (and
    /// a job is cancelled) before the ingest gives up on it.
    pub timeout: Duration,
    pub max_rows: usize,
}

impl Limits {
    fn for_ingest(settings: &SourceSettings, ingest_timeout: Duration) -> Self {
        let margin = (ingest_timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(10));
        Self {
            timeout: settings
                .query_timeout
                .min(ingest_timeout.saturating_sub(margin))
                .max(Duration::from_secs(1)),
            max_rows: settings.max_rows,
        }
    }

    /// The error once a result passes the row cap (checked while rows arrive, so a query
    /// without a time filter cannot fill the memory of the process serving the dashboard).
    #[cfg_attr(
        not(any(
            feature = "duckdb",
            feature = "clickhouse",
            feature = "bigquery",
            feature = "snowflake",
            feature = "postgres"
        )),
        allow(dead_code)
    )]
    fn check_rows(&self, rows: usize) -> Result<(), String> {
        if rows > self.max_rows {
            Err(format!(
                "the query returned more than {} rows (ANOMSTACK_SOURCE_MAX_ROWS); filter it to \
                 the window the batch needs",
                self.max_rows
            ))
        } else {
            Ok(())
        }
    }
}

/// The engines' settings and what is worth keeping between runs: one HTTP client and the
/// access tokens it was given. Cheap to clone; one per process.
#[derive(Clone, Default)]
pub struct Sources(Arc<SourcesInner>);

#[derive(Default)]
struct SourcesInner {
    settings: SourceSettings,
    http: std::sync::OnceLock<reqwest::Client>,
    /// One DuckDB instance per file: connections to the same file must share it.
    #[cfg(feature = "duckdb")]
    duckdb: std::sync::Mutex<std::collections::HashMap<String, ::duckdb::Connection>>,
    /// Bearer tokens by what they are for, with when they stop being good.
    #[cfg_attr(not(feature = "bigquery"), allow(dead_code))]
    tokens: tokio::sync::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
}

impl Sources {
    pub fn new(settings: SourceSettings) -> Self {
        Self(Arc::new(SourcesInner {
            settings,
            ..Default::default()
        }))
    }

    pub fn settings(&self) -> &SourceSettings {
        &self.0.settings
    }

    /// The shared HTTP client; each request sets its own deadline.
    #[cfg_attr(
        not(any(feature = "clickhouse", feature = "bigquery", feature = "snowflake")),
        allow(dead_code)
    )]
    fn http(&self) -> Result<reqwest::Client, String> {
        if let Some(client) = self.0.http.get() {
            return Ok(client.clone());
        }
        let client = crate::http::client(self.0.settings.query_timeout + Duration::from_secs(30))
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(self.0.http.get_or_init(|| client).clone())
    }

    /// A cached token for `key`, or a new one from `fetch` (which says how long it lives).
    #[cfg_attr(not(feature = "bigquery"), allow(dead_code))]
    async fn token<F, Fut>(&self, key: &str, fetch: F) -> Result<String, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(String, Duration), String>>,
    {
        let mut tokens = self.0.tokens.lock().await;
        if let Some((token, until)) = tokens.get(key)
            && *until > std::time::Instant::now()
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch().await?;
        // Renew a minute early, so a token never expires in flight.
        let until = std::time::Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        tokens.insert(key.to_owned(), (token.clone(), until));
        Ok(token)
    }

    /// Forgets a token the service refused (revoked, or the clock moved).
    #[cfg_attr(not(feature = "bigquery"), allow(dead_code))]
    async fn forget_token(&self, key: &str) {
        self.0.tokens.lock().await.remove(key);
    }
}

/// The error for an engine this binary was built without (validation normally stops such a
/// batch at startup).
fn not_built(batch: &str, db: DbKind, feature: &str) -> SourceError {
    SourceError::failed(
        batch,
        format!(
            "db `{}` is not in this build: rebuild with `--features {feature}` (or `full`)",
            db.as_str()
        ),
    )
}

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
    /// What the program printed on stderr.
    pub log: Vec<String>,
    /// What the source did that the run log should say (a translated query).
    pub notes: Vec<String>,
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
    sources: &Sources,
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
            let limits = Limits::for_ingest(sources.settings(), timeout);
            let now = run_ts.format(crate::config::TIMESTAMP_FORMAT).to_string();
            run_sql(batch, store, sources, limits, &sql, &now).await
        } else if let Some(cmd) = &spec.ingest_cmd {
            let max_rows = sources.settings().max_rows;
            command::fetch(name, cmd, batch.dir(), run_ts, max_rows).await
        } else if let Some(source) = &spec.ingest_fn {
            let source = render(source)?;
            let python = &sources.settings().python;
            let max_rows = sources.settings().max_rows;
            python::fetch(name, python, &source, batch.dir(), run_ts, max_rows).await
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

/// Runs `sql` on the engine `db` names, translated to its dialect if it is written in another
/// (see [`crate::dialect`]).
async fn run_sql(
    batch: &Batch,
    store: &Store,
    sources: &Sources,
    limits: Limits,
    sql: &str,
    now: &str,
) -> Result<Fetched, SourceError> {
    let name = batch.name();
    let db = sources.settings().engine(batch.spec.db);
    let (from, to) = (batch.spec.ingest_dialect(), db.dialect());
    if !dialect::translates(from, to) {
        // DuckDB's clock still reads the run's time, so backfills get their own timestamps.
        let sql = dialect::translate(sql, from, to, Some(now))
            .map_err(|e| SourceError::failed(name, e.to_string()))?;
        return run_on(batch, db, store, sources, limits, &sql).await;
    }
    let translated = dialect::translate(sql, from, to, Some(now)).map_err(|e| {
        SourceError::failed(name, format!("{e}; set `sql_dialect` to the dialect the query is written in, or run the batch on DuckDB"))
    })?;
    let mut fetched = run_on(batch, db, store, sources, limits, &translated)
        .await
        .map_err(|e| match e {
            // The query that failed is not the one the user wrote: show it.
            SourceError::Failed { batch, message } => SourceError::Failed {
                batch,
                message: format!(
                    "{message} (the DuckDB query as translated to SQLite: {})",
                    translated.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
            },
            other => other,
        })?;
    let why = if batch.spec.db == db {
        "it runs on SQLite".to_owned()
    } else {
        format!(
            "db `{}` is not in this build, so it ran on the app database",
            batch.spec.db.as_str()
        )
    };
    fetched.notes.push(format!(
        "ingest_sql translated from DuckDB to SQLite: {why}"
    ));
    Ok(fetched)
}

/// Runs `sql` as it is on `db`.
#[cfg_attr(
    not(any(
        feature = "turso",
        feature = "duckdb",
        feature = "clickhouse",
        feature = "bigquery",
        feature = "snowflake",
        feature = "postgres"
    )),
    allow(unused_variables)
)]
async fn run_on(
    batch: &Batch,
    db: DbKind,
    store: &Store,
    sources: &Sources,
    limits: Limits,
    sql: &str,
) -> Result<Fetched, SourceError> {
    let name = batch.name();
    match db {
        DbKind::Sqlite => sqlite::fetch(name, store, sql).await,
        #[cfg(feature = "turso")]
        DbKind::Turso => turso::fetch(name, sources.settings(), sql).await,
        #[cfg(feature = "duckdb")]
        DbKind::Duckdb => duckdb::fetch(name, sources, limits, sql).await,
        #[cfg(feature = "clickhouse")]
        DbKind::Clickhouse => clickhouse::fetch(name, sources, limits, sql).await,
        #[cfg(feature = "bigquery")]
        DbKind::Bigquery => {
            let project = batch.spec.gcp_project_id.as_deref();
            bigquery::fetch(name, sources, project, limits, sql).await
        }
        #[cfg(feature = "snowflake")]
        DbKind::Snowflake => snowflake::fetch(name, sources, limits, sql).await,
        #[cfg(feature = "postgres")]
        DbKind::Postgres | DbKind::Redshift => {
            postgres::fetch(name, db, sources.settings(), limits, sql).await
        }
        #[allow(unreachable_patterns)]
        other => Err(not_built(name, other, other.as_str())),
    }
}
