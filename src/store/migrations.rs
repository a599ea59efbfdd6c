//! Versioned schema migrations, applied at startup. Each migration runs in its own
//! `BEGIN IMMEDIATE` transaction together with the row that records it, so a crash leaves the
//! database at a version boundary, and two processes starting at once apply each step once.

use chrono::Utc;
use libsql::{Connection, TransactionBehavior};

use super::error::{SqlContext, StoreError};
use crate::timestamp::format_db;

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "metrics",
        sql: include_str!("migrations/0001_metrics.sql"),
    },
    Migration {
        version: 2,
        name: "job_runs_and_models",
        sql: include_str!("migrations/0002_job_runs_and_models.sql"),
    },
    Migration {
        version: 3,
        name: "job_queue",
        sql: include_str!("migrations/0003_job_queue.sql"),
    },
    Migration {
        version: 4,
        name: "admin",
        sql: include_str!("migrations/0004_admin.sql"),
    },
    Migration {
        version: 5,
        name: "notifications",
        sql: include_str!("migrations/0005_notifications.sql"),
    },
    Migration {
        version: 6,
        name: "plots",
        sql: include_str!("migrations/0006_plots.sql"),
    },
    Migration {
        version: 7,
        name: "run_heartbeats",
        sql: include_str!("migrations/0007_run_heartbeats.sql"),
    },
    Migration {
        version: 8,
        name: "admin_devices",
        sql: include_str!("migrations/0008_admin_devices.sql"),
    },
    Migration {
        version: 9,
        name: "leases",
        sql: include_str!("migrations/0009_leases.sql"),
    },
    Migration {
        version: 10,
        name: "freshness",
        sql: include_str!("migrations/0010_freshness.sql"),
    },
    Migration {
        version: 11,
        name: "feedback_resets",
        sql: include_str!("migrations/0011_feedback_resets.sql"),
    },
    Migration {
        version: 12,
        name: "feedback_links",
        sql: include_str!("migrations/0012_feedback_links.sql"),
    },
    Migration {
        version: 13,
        name: "alert_budgets",
        sql: include_str!("migrations/0013_alert_budgets.sql"),
    },
    Migration {
        version: 14,
        name: "incidents",
        sql: include_str!("migrations/0014_incidents.sql"),
    },
    Migration {
        version: 15,
        name: "api_token_scopes",
        sql: include_str!("migrations/0015_api_token_scopes.sql"),
    },
];

/// The schema version this binary writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: u32,
    pub to: u32,
}

const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS anomstack_schema (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

pub async fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    // Read first: a database already at a version needs no write (a replica whose primary is
    // away cannot write).
    if let Some(version) = stored_version(conn).await? {
        return Ok(version);
    }
    conn.execute(SCHEMA_TABLE, ())
        .await
        .context("cannot create the schema version table")?;
    Ok(stored_version(conn).await?.unwrap_or(0))
}

/// The schema version recorded, or `None` without a version table. Reads only.
async fn stored_version(conn: &Connection) -> Result<Option<u32>, StoreError> {
    let mut exists = conn
        .query(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'anomstack_schema'",
            (),
        )
        .await
        .context("cannot read the schema version")?;
    let present = match exists
        .next()
        .await
        .context("cannot read the schema version")?
    {
        Some(row) => {
            row.get::<i64>(0)
                .context("cannot read the schema version")?
                > 0
        }
        None => false,
    };
    drop(exists);
    if !present {
        return Ok(None);
    }
    let mut rows = conn
        .query("SELECT COALESCE(MAX(version), 0) FROM anomstack_schema", ())
        .await
        .context("cannot read the schema version")?;
    let version = match rows
        .next()
        .await
        .context("cannot read the schema version")?
    {
        Some(row) => row
            .get::<i64>(0)
            .context("cannot read the schema version")?,
        None => 0,
    };
    Ok(Some(u32::try_from(version).unwrap_or(u32::MAX)))
}

/// Brings the schema up to `target` (normally [`latest_version`]); refuses a newer database.
pub async fn migrate_to(conn: &Connection, target: u32) -> Result<MigrationReport, StoreError> {
    let from = current_version(conn).await?;
    let supported = latest_version();
    if from > supported {
        return Err(StoreError::SchemaTooNew {
            found: from,
            supported,
        });
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > from && m.version <= target)
    {
        let fail = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .await
            .map_err(fail)?;
        // Another process may have applied it while we waited for the lock.
        let mut rows = tx
            .query(
                "SELECT 1 FROM anomstack_schema WHERE version = ?1",
                [i64::from(m.version)],
            )
            .await
            .map_err(fail)?;
        let done = rows.next().await.map_err(fail)?.is_some();
        drop(rows);
        if !done {
            tx.execute_batch(m.sql).await.map_err(fail)?;
            tx.execute(
                "INSERT INTO anomstack_schema (version, name, applied_at) VALUES (?1, ?2, ?3)",
                libsql::params![
                    i64::from(m.version),
                    m.name,
                    format_db(Utc::now().naive_utc())
                ],
            )
            .await
            .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied database migration"
        );
    }
    let to = current_version(conn).await?;
    Ok(MigrationReport { from, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
    }
}
