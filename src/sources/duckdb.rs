//! `db: duckdb`: the batch's query on a DuckDB file (`ANOMSTACK_DUCKDB_PATH`; parent folders
//! are created) or on MotherDuck (`md:<database>` with `ANOMSTACK_MOTHERDUCK_TOKEN`). DuckDB's
//! API blocks, so the query runs on a blocking thread and is interrupted at the deadline. One
//! instance per file stays open for the life of the process.

use duckdb::types::{TimeUnit, ValueRef};

use super::table::{Cell, Table};
use super::{Fetched, Limits, SourceError, Sources};

pub async fn fetch(
    batch: &str,
    sources: &Sources,
    limits: Limits,
    sql: &str,
) -> Result<Fetched, SourceError> {
    let failed = |m: String| SourceError::failed(batch, format!("duckdb: {m}"));
    let settings = sources.settings();
    let path = settings.duckdb.path.clone();
    let token = if path.starts_with("md:") {
        let token =
            settings.duckdb.motherduck_token.as_ref().ok_or_else(|| {
                failed("an `md:` path needs ANOMSTACK_MOTHERDUCK_TOKEN".to_owned())
            })?;
        Some(token.expose().to_owned())
    } else {
        if let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| failed(format!("cannot create {}: {e}", parent.display())))?;
        }
        None
    };
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let opener = sources.clone();
    let key = path.clone();
    let open = tokio::task::spawn_blocking(move || connection(&opener, &key, token.as_deref()));
    let connection = tokio::time::timeout_at(deadline, open)
        .await
        .map_err(|_| {
            failed(format!(
                "opening {} took longer than {} s",
                scrub(&path),
                limits.timeout.as_secs()
            ))
        })?
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| {
            failed(format!(
                "cannot open {}: {}",
                scrub(&path),
                scrub(&e.to_string())
            ))
        })?;
    let interrupt = connection.interrupt_handle();
    let sql = sql.to_owned();
    let work = tokio::task::spawn_blocking(move || query(&connection, &sql, limits));
    match tokio::time::timeout_at(deadline, work).await {
        Ok(joined) => joined
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(scrub(&e)))?
            .into_fetched(batch),
        Err(_) => {
            interrupt.interrupt();
            Err(failed(format!(
                "the query ran longer than {} s and was interrupted \
                 (ANOMSTACK_SOURCE_QUERY_TIMEOUT_SECONDS, ingest_timeout_seconds)",
                limits.timeout.as_secs()
            )))
        }
    }
}

/// A connection to the process's one DuckDB instance for `path`: two instances of one file in
/// a process would fight over its lock, so batches running at once share it.
fn connection(
    sources: &Sources,
    path: &str,
    motherduck_token: Option<&str>,
) -> Result<duckdb::Connection, duckdb::Error> {
    let mut instances = sources
        .0
        .duckdb
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(existing) = instances.get(path) {
        return existing.try_clone();
    }
    let mut config = duckdb::Config::default();
    if let Some(token) = motherduck_token {
        // A setting, not part of the path: the path shows up in messages.
        config = config.with("motherduck_token", token)?;
    }
    let opened = duckdb::Connection::open_with_flags(path, config)?;
    let clone = opened.try_clone()?;
    instances.insert(path.to_owned(), opened);
    Ok(clone)
}

/// Hides a MotherDuck token should a message repeat the connection string.
fn scrub(message: &str) -> String {
    match message.find("motherduck_token=") {
        Some(at) => {
            let end = message[at..]
                .find(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '&')
                .map_or(message.len(), |n| at + n);
            format!("{}motherduck_token=***{}", &message[..at], &message[end..])
        }
        None => message.to_owned(),
    }
}

fn query(connection: &duckdb::Connection, sql: &str, limits: Limits) -> Result<Table, String> {
    query_rows(connection, sql, limits).map_err(|e| match e {
        QueryError::Duckdb(e) => e.to_string(),
        QueryError::TooMany(message) => message,
    })
}

enum QueryError {
    Duckdb(duckdb::Error),
    TooMany(String),
}

impl From<duckdb::Error> for QueryError {
    fn from(e: duckdb::Error) -> Self {
        QueryError::Duckdb(e)
    }
}

fn query_rows(
    connection: &duckdb::Connection,
    sql: &str,
    limits: Limits,
) -> Result<Table, QueryError> {
    let mut statement = connection.prepare(sql)?;
    let mut out = Vec::new();
    {
        let mut rows = statement.query([])?;
        let width = rows.as_ref().map_or(0, |s| s.column_count());
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(cell(row.get_ref(i)?));
            }
            out.push(cells);
            limits.check_rows(out.len()).map_err(QueryError::TooMany)?;
        }
    }
    // Executed above, so the column names are known.
    let columns = statement.column_names();
    Ok(Table { columns, rows: out })
}

fn cell(value: ValueRef<'_>) -> Cell {
    let number = |v: f64| Cell::Number(v);
    match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Boolean(b) => number(f64::from(u8::from(b))),
        ValueRef::TinyInt(v) => number(v.into()),
        ValueRef::SmallInt(v) => number(v.into()),
        ValueRef::Int(v) => number(v.into()),
        ValueRef::BigInt(v) => number(v as f64),
        ValueRef::HugeInt(v) => number(v as f64),
        ValueRef::UHugeInt(v) => number(v as f64),
        ValueRef::UTinyInt(v) => number(v.into()),
        ValueRef::USmallInt(v) => number(v.into()),
        ValueRef::UInt(v) => number(v.into()),
        ValueRef::UBigInt(v) => number(v as f64),
        ValueRef::Float(v) => number(v.into()),
        ValueRef::Double(v) => number(v),
        ValueRef::Decimal(d) => Cell::numeric_text(d.to_string()),
        // TIMESTAMP and TIMESTAMPTZ (which DuckDB keeps in UTC).
        ValueRef::Timestamp(unit, v) => {
            let micros = match unit {
                TimeUnit::Second => v.saturating_mul(1_000_000),
                TimeUnit::Millisecond => v.saturating_mul(1_000),
                TimeUnit::Microsecond => v,
                TimeUnit::Nanosecond => v / 1_000,
            };
            chrono::DateTime::from_timestamp_micros(micros)
                .map_or(Cell::Null, |t| Cell::Time(t.naive_utc()))
        }
        ValueRef::Date32(days) => chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
            .map_or(Cell::Null, |t| Cell::Time(t.naive_utc())),
        ValueRef::Text(bytes) => Cell::Text(String::from_utf8_lossy(bytes).into_owned()),
        other => Cell::Text(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_scrubbed_from_messages() {
        assert_eq!(
            scrub("IO Error: md:db?motherduck_token=abc123 failed"),
            "IO Error: md:db?motherduck_token=*** failed"
        );
        assert_eq!(scrub("plain"), "plain");
    }

    #[test]
    fn a_motherduck_token_is_accepted_as_a_setting() {
        // DuckDB keeps options it does not know for the extension that will (MotherDuck's).
        assert!(
            duckdb::Config::default()
                .with("motherduck_token", "t")
                .is_ok()
        );
    }
}
