//! Connections of an embedded replica, reused. Every replica connection that writes opens a
//! delegated connection on the primary, which lives on after the client drops it; a fresh one
//! per statement soon exhausts the primary's connection limit (sqld: 128, then "Timed out
//! while opening database connection"). So a replica's connections go back to a small pool
//! when dropped, unless a transaction is still open on them. Local files and remote mode
//! open a connection per use, which costs nothing there.
//!
//! Over the network each statement also has a time limit (`ANOMSTACK_DB_TIMEOUT_SECONDS`):
//! a server that accepts a request and never answers would otherwise hold a job, a page or
//! the queue forever. Running out of it is an unreachable database, retried like one.

use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libsql::{Connection, Rows, Transaction, params::IntoParams};

/// Idle connections kept at most; more are closed when dropped.
const MAX_IDLE: usize = 16;

#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub(super) fn take(&self) -> Option<Connection> {
        self.idle.lock().ok()?.pop()
    }
}

/// A connection from [`super::Store::connect`]: use it as a `libsql::Connection`.
pub struct Conn {
    conn: Option<Connection>,
    pool: Option<Arc<Pool>>,
    limit: Option<Duration>,
    /// A statement ran out of time: the server may have run it (a BEGIN, say) without the
    /// client knowing, so the connection is not reused.
    spoiled: std::sync::atomic::AtomicBool,
}

impl Conn {
    pub(super) fn new(conn: Connection, pool: Option<Arc<Pool>>, limit: Option<Duration>) -> Self {
        Self {
            conn: Some(conn),
            pool,
            limit,
            spoiled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub async fn execute(&self, sql: &str, params: impl IntoParams) -> libsql::Result<u64> {
        self.within(self.deref().execute(sql, params)).await
    }

    pub async fn query(&self, sql: &str, params: impl IntoParams) -> libsql::Result<Rows> {
        self.within(self.deref().query(sql, params)).await
    }

    pub async fn execute_batch(&self, sql: &str) -> libsql::Result<libsql::BatchRows> {
        self.within(self.deref().execute_batch(sql)).await
    }

    pub async fn transaction(&self) -> libsql::Result<Transaction> {
        self.within(self.deref().transaction()).await
    }

    /// `statement` (of this connection, or of a transaction of it) within the time limit.
    pub async fn within<T>(
        &self,
        statement: impl Future<Output = libsql::Result<T>>,
    ) -> libsql::Result<T> {
        let result = within(self.limit, statement).await;
        if matches!(&result, Err(e) if is_timeout(e)) {
            self.spoiled
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
}

/// The words every timeout of [`within`] carries.
const TIMEOUT_MARK: &str = "(ANOMSTACK_DB_TIMEOUT_SECONDS)";

/// Whether `e` is a statement that ran out of time in [`within`].
pub(super) fn is_timeout(e: &libsql::Error) -> bool {
    matches!(e, libsql::Error::ConnectionFailed(m) if m.ends_with(TIMEOUT_MARK))
}

/// `statement`, or a connection failure naming the limit when it takes longer.
pub(super) async fn within<T>(
    limit: Option<Duration>,
    statement: impl Future<Output = libsql::Result<T>>,
) -> libsql::Result<T> {
    let Some(limit) = limit else {
        return statement.await;
    };
    tokio::time::timeout(limit, statement)
        .await
        .unwrap_or_else(|_| {
            Err(libsql::Error::ConnectionFailed(format!(
                "no answer within {} s {TIMEOUT_MARK}",
                limit.as_secs_f64()
            )))
        })
}

impl Deref for Conn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Only `drop` takes it out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let (Some(conn), Some(pool)) = (self.conn.take(), &self.pool) else {
            return;
        };
        // A connection left inside a transaction would put the next user in it.
        if !conn.is_autocommit() || self.spoiled.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Ok(mut idle) = pool.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}
