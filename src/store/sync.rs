//! An embedded replica's sync: pulled on an interval by a background task (not by libsql's
//! own timer, whose failures nobody sees), with when it last worked, how it last failed and
//! how often, for `/health` and `/metrics`.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Store, StoreError};

/// What the replica's syncs have done so far.
#[derive(Debug, Clone, Default)]
pub struct SyncStatus {
    /// When a sync last succeeded (the open's first sync counts).
    pub last_ok: Option<Instant>,
    /// The replication index (WAL frame) it reached.
    pub frame: Option<u64>,
    /// The newest failure, cleared by the next success.
    pub error: Option<String>,
    /// Failures since start.
    pub failures: u64,
}

impl SyncStatus {
    /// Seconds since the last good sync (`None`: never synced).
    pub fn age(&self) -> Option<Duration> {
        self.last_ok.map(|t| t.elapsed())
    }

    /// Behind: the last attempt failed, or no sync worked for three intervals.
    pub fn degraded(&self, every: Duration) -> bool {
        self.error.is_some() || self.age().is_none_or(|a| a > every * 3)
    }
}

#[derive(Default)]
pub(super) struct SyncState(Mutex<SyncStatus>);

impl SyncState {
    pub(super) fn record(&self, result: &Result<Option<u64>, StoreError>) {
        let Ok(mut s) = self.0.lock() else { return };
        match result {
            Ok(frame) => {
                s.last_ok = Some(Instant::now());
                s.frame = frame.or(s.frame);
                s.error = None;
            }
            Err(e) => {
                s.failures += 1;
                s.error = Some(e.to_string());
            }
        }
    }

    pub(super) fn snapshot(&self) -> SyncStatus {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Syncs the replica every `every` until `shutdown` resolves; failures are logged once per
/// change of state, and retried at the next tick.
pub async fn run(store: Store, every: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut failing = false;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
        match store.sync().await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("replica sync works again");
            }
            Ok(_) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "replica sync failed; serving the last synced data");
            }
            Err(_) => {}
        }
    }
}
