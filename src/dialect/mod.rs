//! SQL dialects: queries written for one engine, run on another. The original Anomstack wrote
//! its SQL for DuckDB and translated it to whatever engine ran it; a batch from it that runs
//! on SQLite here (the app database, or Turso) has its DuckDB SQL translated the same way.
//! Pure text in, text out.

mod duckdb_sqlite;
mod lexer;

/// The dialect a query is written in, or an engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Duckdb,
    Sqlite,
    /// Any other engine's own dialect: never translated.
    Other,
}

/// A construct that has no translation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot translate DuckDB's `{construct}` to SQLite: {reason}")]
pub struct TranslateError {
    pub construct: String,
    pub reason: String,
}

/// `sql` as the `to` dialect runs it. Only DuckDB to SQLite translates; DuckDB to DuckDB only
/// pins the time (below); every other pair is returned as written.
///
/// `now` is the run's logical time (`YYYY-MM-DD HH:MM:SS`, UTC): DuckDB's clock functions
/// (`now()`, `get_current_timestamp()`, `current_timestamp`, `current_date`, `today()`) read it,
/// so a backfill in the past gets rows at its own times, as `{{ run_ts }}` does in templates.
pub fn translate(
    sql: &str,
    from: Dialect,
    to: Dialect,
    now: Option<&str>,
) -> Result<String, TranslateError> {
    match (from, to) {
        (Dialect::Duckdb, Dialect::Sqlite) => duckdb_sqlite::translate(sql, now),
        (Dialect::Duckdb, Dialect::Duckdb) => match now {
            Some(now) => Ok(duckdb_sqlite::pin_clock_duckdb(sql, now)),
            None => Ok(sql.to_owned()),
        },
        _ => Ok(sql.to_owned()),
    }
}

/// Whether running `from` SQL on `to` changes it beyond pinning the clock.
pub fn translates(from: Dialect, to: Dialect) -> bool {
    from == Dialect::Duckdb && to == Dialect::Sqlite
}
