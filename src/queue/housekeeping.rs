//! Retention of the app's own history: run logs, finished queue entries and the notification
//! log older than `ANOMSTACK_HISTORY_DAYS` are deleted once an hour, so a small volume does
//! not fill up with bookkeeping (metric rows have their own retention, the `delete` job).
//! Machines sharing a database take turns through a lease: one pass per hour in all.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;

use crate::store::{Pruned, Store};

/// Time between passes; the first runs a minute after start, off the start-up path.
const EVERY: Duration = Duration::from_secs(3600);
const FIRST_AFTER: Duration = Duration::from_secs(60);

/// The lease a pass holds: a little under the interval, so the next hour's pass (by any
/// machine) is free to go.
const LEASE: Duration = Duration::from_secs(3300);

/// Prunes every hour until `shutdown` resolves, unless another machine (`holder` names this
/// one) has done it in the last hour.
pub async fn run(store: Store, keep: Duration, holder: String, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut wait = FIRST_AFTER;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        match take_turn(&store, &holder).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("another machine pruned the history this hour");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the housekeeping turn");
                continue;
            }
        }
        match prune(&store, keep).await {
            Ok(p) if p == Pruned::default() => {}
            Ok(p) => tracing::info!(
                runs = p.runs,
                queue = p.queue,
                notifications = p.notifications,
                "pruned history"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot prune history"),
        }
    }
}

/// Whether this machine (`holder`) is the one to prune now.
pub async fn take_turn(store: &Store, holder: &str) -> Result<bool, crate::store::StoreError> {
    let until = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
    store.take_lease("housekeeping", holder, until).await
}

/// One pass: everything older than `keep`.
pub async fn prune(store: &Store, keep: Duration) -> Result<Pruned, crate::store::StoreError> {
    // A retention too long to subtract keeps everything.
    let Some(before) = chrono::Duration::from_std(keep)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
    else {
        return Ok(Pruned::default());
    };
    store.prune_history(before).await
}
