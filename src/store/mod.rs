//! The app database: one libsql database holding metrics, scores and alerts with their
//! feedback (`metrics.rs`, `dashboard.rs`), run history (`runs.rs`), the job queue
//! (`queue.rs`), models kept in the database (`models.rs`), plots, the notification log,
//! and the admin's sessions, API tokens and silences (`admin.rs`). It is a local file by
//! default, a Turso database over HTTP (Hrana v3), or a local embedded replica of one; the
//! rest of the program cannot tell. `migrations.rs` brings any of them to the current schema;
//! `adopt.rs` takes over a metrics table the original Anomstack made.
//!
//! Every SQL statement the app runs against it lives in this module.

mod admin;
mod adopt;
mod anomalies;
mod budgets;
mod dashboard;
mod error;
mod feedback;
mod feedback_links;
mod freshness;
mod incidents;
mod metrics;
pub mod migrations;
mod models;
mod notifications;
mod patience;
mod plots;
mod pool;
mod query;
mod queue;
mod replica;
mod row;
mod runs;
mod score_notes;
pub mod sync;
mod window;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libsql::{Builder, Database};
use replica::{ReplicaError, open_replica, sync_replica};

pub use admin::{ApiToken, NewSilence, SessionRecord, Silence, TokenScope, TokenUse};
pub use adopt::Adopted;
pub use anomalies::{ANOMALY_KINDS, Anomaly, Feedback, Flag};
pub use budgets::{BudgetThreshold, HeldAlert};
pub use dashboard::{BatchSummary, ChartPoint, KindCounts, MetricStats, RunTotals};
pub use error::StoreError;
pub use feedback::{FeedbackReset, StoredVerdict};
pub use freshness::{StaleState, StateChange};
pub use incidents::{IncidentEvent, NewMember, Transition};
pub use libsql::Value;
pub use metrics::{MetricRow, MetricType, Series, UpsertReport, WindowQuery};
pub use migrations::{MigrationReport, latest_version};
pub use notifications::NotificationRecord;
pub use patience::{PATIENCE, patiently};
pub use plots::{Plot, PlotInfo};
pub use pool::Conn;
pub use query::QueryResult;
pub use queue::{QueueDepth, QueueEntry, QueueItem, WorkerInfo};
pub use runs::{JobRun, Pruned, RunFilter, RunOutcome, RunStatus};
pub use score_notes::{
    ScoreNotes, alert_metadata, score_metadata, score_notes, seeded_alert_metadata,
};
pub use window::{MAX_WINDOW_POINTS, Window};

use crate::config::DatabaseLocation;
use error::SqlContext;

/// How long a local connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a statement over the network may take by default (see `pool.rs`).
pub const NETWORK_TIMEOUT: Duration = crate::config::DEFAULT_DB_TIMEOUT;
/// A replica's sync may take this many times as long.
const SYNC_TIMEOUT_FACTOR: u32 = 10;

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    local: bool,
    /// An embedded replica: local reads, writes forwarded to the primary, `sync` pulls.
    replica: bool,
    /// A replica's idle connections (see `pool.rs`).
    pool: Option<Arc<pool::Pool>>,
    /// A replica's sync record (see `sync.rs`).
    synced: sync::SyncState,
    /// The time limit of a statement over the network, in milliseconds (0: none).
    timeout_ms: std::sync::atomic::AtomicU64,
    location: String,
    /// Metrics tables known to exist, so `table_key` tables are created once per process.
    tables: Mutex<HashSet<String>>,
    /// Counts of metrics writes through this handle: per (table, batch), and for statements
    /// that may touch any batch (`delete_sql`). Caches in the same process compare them to know
    /// their figures are out of date without asking the database.
    generation: std::sync::atomic::AtomicU64,
    batch_generations: Mutex<std::collections::HashMap<(String, String), u64>>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database.
    pub async fn open(location: &DatabaseLocation) -> Result<Self, StoreError> {
        Self::open_with(location, NETWORK_TIMEOUT).await
    }

    /// [`Store::open`] with the settings' database and time limit over the network.
    pub async fn open_from(settings: &crate::config::Settings) -> Result<Self, StoreError> {
        Self::open_with(&settings.database, settings.db_timeout).await
    }

    /// [`Store::open`], each statement over the network limited to `timeout`.
    pub async fn open_with(
        location: &DatabaseLocation,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let store = Self::open_unmigrated(location).await?;
        store.set_network_timeout(timeout);
        let report = store.migrate().await.map_err(|e| store.read_only_or(e))?;
        let offline = store.sync_status().is_some_and(|s| s.error.is_some());
        if !matches!(location, DatabaseLocation::Local { .. }) && !offline {
            // A token that may only read would fail the first job, not here: find out now.
            let conn = store.connect().await?;
            conn.execute("DELETE FROM anomstack_schema WHERE 0", ())
                .await
                .context("cannot write to the database")
                .map_err(|e| store.read_only_or(e))?;
        }
        // A `metrics` table the original Anomstack made (no unique key) gets the app's key.
        store.ensure_metrics_table("metrics").await?;
        tracing::info!(
            database = %store.inner.location,
            from = report.from,
            to = report.to,
            "database ready"
        );
        Ok(store)
    }

    /// Opens without touching the schema; tests use it to build old databases.
    pub async fn open_unmigrated(location: &DatabaseLocation) -> Result<Self, StoreError> {
        Self::open_checked(location, true).await
    }

    /// [`Store::open_unmigrated`]; a replica found out of step with its primary is rebuilt
    /// once, if `may_rebuild`.
    async fn open_checked(
        location: &DatabaseLocation,
        may_rebuild: bool,
    ) -> Result<Self, StoreError> {
        let display = describe_location(location);
        let open_err = |source| StoreError::Open {
            location: display.clone(),
            source,
        };
        let replica = matches!(location, DatabaseLocation::Replica { .. });
        let (db, local) = match location {
            DatabaseLocation::Local { path } => {
                create_parent_dir(path)?;
                (
                    Builder::new_local(path).build().await.map_err(open_err)?,
                    true,
                )
            }
            DatabaseLocation::Remote { url, token } => (
                Builder::new_remote(url.clone(), token.expose().to_owned())
                    .build()
                    .await
                    .map_err(open_err)?,
                false,
            ),
            DatabaseLocation::Replica { path, url, token } => {
                create_parent_dir(path)?;
                (
                    open_replica(path, url, token.expose())
                        .await
                        .map_err(|e| match e {
                            ReplicaError::Unavailable => StoreError::ReplicaUnavailable,
                            ReplicaError::Libsql(source) => open_err(source),
                        })?,
                    true,
                )
            }
        };
        let store = Store {
            inner: Arc::new(Inner {
                db,
                local,
                replica,
                pool: replica.then(|| Arc::new(pool::Pool::default())),
                synced: sync::SyncState::default(),
                timeout_ms: std::sync::atomic::AtomicU64::new(
                    if matches!(location, DatabaseLocation::Local { .. }) {
                        0
                    } else {
                        NETWORK_TIMEOUT.as_millis() as u64
                    },
                ),
                location: display,
                tables: Mutex::new(HashSet::new()),
                generation: std::sync::atomic::AtomicU64::new(0),
                batch_generations: Mutex::new(std::collections::HashMap::new()),
            }),
        };
        if let DatabaseLocation::Replica { path, .. } = location {
            let has_schema = match store.connect().await {
                Ok(conn) => migrations::current_version(&conn).await.unwrap_or(0) > 0,
                Err(_) => false,
            };
            // Before anything reads it: a new replica file is empty until its first sync.
            let synced = store.sync().await;
            let replaced = match &synced {
                // A primary without a single frame while this file had the schema: it is
                // another database (recreated, or wiped).
                Ok(None) => has_schema,
                Err(StoreError::Sync { source, .. }) => replica::log_incompatible(source),
                _ => false,
            };
            if replaced && may_rebuild {
                drop(store);
                let aside = replica::set_aside(path).map_err(|source| StoreError::CreateDir {
                    path: path.display().to_string(),
                    source,
                })?;
                tracing::warn!(
                    kept = %aside.display(),
                    "the primary is another database than this replica's (recreated or restored from elsewhere): the old replica is set aside and a new one pulled"
                );
                return Box::pin(Self::open_checked(location, false)).await;
            }
            if let Err(e) = synced {
                // One synced before serves what it has while the primary is away (`/health`
                // says so).
                if !has_schema {
                    return Err(e);
                }
                tracing::warn!(error = %e, "the primary is unreachable: serving the replica's last synced data");
            }
        }
        if local && !replica {
            let conn = store.connect().await?;
            // WAL lets the dashboard read while a job writes. (A replica's file is the
            // replication's; it refuses the pragma.)
            let mut rows = conn
                .query("PRAGMA journal_mode=WAL", ())
                .await
                .context("cannot switch the database to WAL mode")?;
            while rows
                .next()
                .await
                .context("cannot switch to WAL mode")?
                .is_some()
            {}
        }
        Ok(store)
    }

    /// A connection (a replica's comes from its pool). Local connections wait for a busy
    /// writer instead of failing at once.
    pub async fn connect(&self) -> Result<Conn, StoreError> {
        let limit = self.network_timeout();
        if let Some(conn) = self.inner.pool.as_ref().and_then(|p| p.take()) {
            return Ok(Conn::new(conn, self.inner.pool.clone(), limit));
        }
        let conn = self.inner.db.connect().map_err(|source| StoreError::Open {
            location: self.inner.location.clone(),
            source,
        })?;
        if self.inner.local {
            conn.busy_timeout(BUSY_TIMEOUT)
                .context("cannot set the busy timeout")?;
        }
        Ok(Conn::new(conn, self.inner.pool.clone(), limit))
    }

    /// Sets the time limit of each statement over the network (a local file has none).
    fn set_network_timeout(&self, limit: Duration) {
        if self.network_timeout().is_some() {
            self.inner.timeout_ms.store(
                limit.as_millis().clamp(1, u128::from(u64::MAX)) as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    fn network_timeout(&self) -> Option<Duration> {
        match self
            .inner
            .timeout_ms
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// `e`, or [`StoreError::ReadOnly`] when the server refused a write as forbidden.
    fn read_only_or(&self, e: StoreError) -> StoreError {
        let text = e.to_string();
        if text.contains("403") || text.contains("Forbidden") || text.contains("read-only") {
            StoreError::ReadOnly {
                location: self.inner.location.clone(),
            }
        } else {
            e
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let conn = self.connect().await?;
        migrations::migrate_to(&conn, latest_version()).await
    }

    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let conn = self.connect().await?;
        migrations::current_version(&conn).await
    }

    /// Pulls what other machines wrote into an embedded replica (a no-op elsewhere), and
    /// returns the replication index it reached, if the database is a replica.
    pub async fn sync(&self) -> Result<Option<u64>, StoreError> {
        if !self.inner.replica {
            return Ok(None);
        }
        // A sync may pull many frames (a new replica, or one long offline): more time.
        let limit = self.network_timeout().map(|t| t * SYNC_TIMEOUT_FACTOR);
        let result = pool::within(limit, sync_replica(&self.inner.db))
            .await
            .map_err(|source| StoreError::Sync {
                location: self.inner.location.clone(),
                source,
            })
            .and_then(|frame| {
                // Frames before, none now: the primary is another database. Only a restart
                // rebuilds the replica (see `replica.rs`); until then, `/health` says so.
                if frame.is_none() && self.inner.synced.snapshot().frame.is_some() {
                    Err(StoreError::ReplicaReplaced {
                        location: self.inner.location.clone(),
                    })
                } else {
                    Ok(frame)
                }
            });
        self.inner.synced.record(&result);
        result
    }

    /// A replica's syncs so far; `None` for a local file or remote mode.
    pub fn sync_status(&self) -> Option<sync::SyncStatus> {
        self.inner.replica.then(|| self.inner.synced.snapshot())
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let conn = self.connect().await?;
        let mut rows = conn.query("SELECT 1", ()).await.context("ping failed")?;
        rows.next().await.context("ping failed")?;
        Ok(())
    }

    /// Whether the database is a plain local file (not remote, not a replica).
    pub fn is_local_file(&self) -> bool {
        self.inner.local && !self.inner.replica
    }

    /// Whether reads are answered by a local file (a plain file or a replica), without
    /// yielding to the runtime.
    pub fn reads_locally(&self) -> bool {
        self.inner.local
    }

    /// Where the database is, without credentials (for logs and pages).
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// How many metrics writes to `batch` in `table` this process has made (see
    /// `Inner::generation`).
    pub fn write_generation(&self, table: &str, batch: &str) -> u64 {
        let global = self
            .inner
            .generation
            .load(std::sync::atomic::Ordering::Acquire);
        let own = self
            .inner
            .batch_generations
            .lock()
            .ok()
            .and_then(|g| g.get(&(table.to_owned(), batch.to_owned())).copied())
            .unwrap_or(0);
        global.wrapping_add(own)
    }

    /// Records a write that may have touched any batch.
    fn wrote(&self) {
        self.inner
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Records a write to these batches of `table`.
    fn wrote_batches<'a>(&self, table: &str, batches: impl Iterator<Item = &'a str>) {
        match self.inner.batch_generations.lock() {
            Ok(mut g) => {
                for batch in batches {
                    let n = g.entry((table.to_owned(), batch.to_owned())).or_insert(0);
                    *n = n.wrapping_add(1);
                }
            }
            Err(_) => self.wrote(),
        }
    }
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// A location for logs: file path, or URL without query string or credentials.
fn describe_location(location: &DatabaseLocation) -> String {
    let strip = |url: &str| {
        let url = url.split(['?', '#']).next().unwrap_or(url);
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://{host}")
            }
            None => url.to_owned(),
        }
    };
    match location {
        DatabaseLocation::Local { path } => path.display().to_string(),
        DatabaseLocation::Remote { url, .. } => strip(url),
        DatabaseLocation::Replica { path, url, .. } => {
            format!("{} (replica of {})", path.display(), strip(url))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn locations_are_described_without_credentials() {
        let remote = DatabaseLocation::Remote {
            url: "libsql://user:pw@db.turso.io?authToken=abc".into(),
            token: Secret::new("t"),
        };
        assert_eq!(describe_location(&remote), "libsql://db.turso.io");
    }
}
