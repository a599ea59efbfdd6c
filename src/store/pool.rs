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
}

impl Conn {
    pub(super) fn new(conn: Connection, pool: Option<Arc<Pool>>, limit: Option<Duration>) -> Self {
        Self {
            conn: Some(conn),
            pool,
            limit,
        }
    }

    pub async fn execute(&self, sql: &str, params: impl IntoParams) -> libsql::Result<u64> {
        within(self.limit, self.deref().execute(sql, params)).await
    }

    pub async fn query(&self, sql: &str, params: impl IntoParams) -> libsql::Result<Rows> {
        within(self.limit, self.deref().query(sql, params)).await
    }

    pub async fn execute_batch(&self, sql: &str) -> libsql::Result<libsql::BatchRows> {
        within(self.limit, self.deref().execute_batch(sql)).await
    }

    pub async fn transaction(&self) -> libsql::Result<Transaction> {
        within(self.limit, self.deref().transaction()).await
    }

    /// `statement` (of a transaction of this connection) within the time limit.
    pub async fn within<T>(
        &self,
        statement: impl Future<Output = libsql::Result<T>>,
    ) -> libsql::Result<T> {
        within(self.limit, statement).await
    }
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
                "no answer within {} s (ANOMSTACK_DB_TIMEOUT_SECONDS)",
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
        if !conn.is_autocommit() {
            return;
        }
        if let Ok(mut idle) = pool.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}
