//! Connections of an embedded replica, reused. Every replica connection that writes opens a
//! delegated connection on the primary, which lives on after the client drops it; a fresh one
//! per statement soon exhausts the primary's connection limit (sqld: 128, then "Timed out
//! while opening database connection"). So a replica's connections go back to a small pool
//! when dropped, unless a transaction is still open on them. Local files and remote mode
//! open a connection per use, which costs nothing there.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use libsql::Connection;

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
}

impl Conn {
    pub(super) fn new(conn: Connection, pool: Option<Arc<Pool>>) -> Self {
        Self {
            conn: Some(conn),
            pool,
        }
    }
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
