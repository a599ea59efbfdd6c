//! Taking over a metrics table made by the original Anomstack: the same six columns, but no
//! unique key, so re-run jobs left duplicate rows (its score job re-inserted every scored
//! point on every run) and its timestamps may carry microseconds or a `T`. Such a table is
//! rebuilt in one transaction: every (batch, metric, type, second) kept once, the newest row
//! winning, under the key every upsert here relies on. Views and triggers on the table are
//! recreated as they were; rows missing a value or a key column cannot be stored under the
//! key and are counted. Nothing else is lost.

use libsql::{Connection, TransactionBehavior};

use super::error::{SqlContext, StoreError};

/// The key the app's upserts name in `ON CONFLICT`.
const KEY: [&str; 4] = [
    "metric_batch",
    "metric_type",
    "metric_name",
    "metric_timestamp",
];
const REQUIRED: [&str; 5] = [
    "metric_timestamp",
    "metric_batch",
    "metric_name",
    "metric_type",
    "metric_value",
];

/// What adopting a table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adopted {
    /// Rows in the table before.
    pub rows_before: u64,
    /// Rows kept, one per key.
    pub rows_kept: u64,
    /// Rows without a value, timestamp, batch, name or type (the key and the app's table
    /// require them), dropped.
    pub rows_incomplete: u64,
}

impl Adopted {
    /// Duplicate rows folded into the row kept for their key.
    pub fn merged(&self) -> u64 {
        self.rows_before
            .saturating_sub(self.rows_kept)
            .saturating_sub(self.rows_incomplete)
    }
}

/// Rebuilds `table` with the app's key if it exists without one. `ddl` creates the table in
/// the app's shape (under `table`'s name). Returns what was done, or `None` when there was
/// nothing to do (no such table, or it already has the key).
/// Whether `table` exists with the app's unique key: nothing to create or adopt. Reads only,
/// so a replica whose primary is away still answers.
pub(super) async fn keyed(conn: &Connection, table: &str) -> Result<bool, StoreError> {
    let columns = table_columns(conn, table).await?;
    Ok(!columns.is_empty() && has_key(conn, table, &columns).await?)
}

pub(super) async fn adopt_if_needed(
    conn: &Connection,
    table: &str,
    ddl: &str,
) -> Result<Option<Adopted>, StoreError> {
    // Checked before taking the write lock (the usual case: nothing to do), and again under
    // it, so a second process starting at the same time finds the work done.
    let columns = table_columns(conn, table).await?;
    if columns.is_empty() || has_key(conn, table, &columns).await? {
        return Ok(None);
    }
    let context = |what: &str| format!("adopting metrics table `{table}`: {what}");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .await
        .context(context("cannot start the transaction"))?;
    let columns = table_columns(&tx, table).await?;
    if columns.is_empty() || has_key(&tx, table, &columns).await? {
        return Ok(None);
    }
    for required in REQUIRED {
        if !columns
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(required))
        {
            return Err(StoreError::Adopt {
                table: table.to_owned(),
                reason: format!(
                    "it has no column `{required}`; a metrics table needs metric_timestamp, \
                     metric_batch, metric_name, metric_type, metric_value (and metadata)"
                ),
            });
        }
    }
    let has_metadata = columns
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("metadata"));
    let old = format!("{table}__anomstack_adopting");
    let rows_before = count(&tx, &format!("SELECT count(*) FROM {table}"), table).await?;
    let rows_incomplete = count(
        &tx,
        &format!(
            "SELECT count(*) FROM {table} WHERE metric_value IS NULL OR metric_timestamp IS NULL
               OR metric_batch IS NULL OR metric_name IS NULL OR metric_type IS NULL"
        ),
        table,
    )
    .await?;
    // A rename rewrites views to follow the old table, and dropping it drops its triggers:
    // both are set aside and recreated over the new table.
    let dependents = dependents(&tx, table).await?;
    for (kind, name, _) in &dependents {
        tx.execute(
            &format!("DROP {kind} IF EXISTS \"{}\"", name.replace('"', "\"\"")),
            (),
        )
        .await
        .context(context(&format!("cannot set aside {kind} `{name}`")))?;
    }
    tx.execute(&format!("ALTER TABLE {table} RENAME TO {old}"), ())
        .await
        .context(context("cannot rename the table"))?;
    tx.execute_batch(ddl)
        .await
        .context(context("cannot create the new table"))?;
    // Timestamps as the app writes them (UTC, whole seconds); text SQLite cannot read as a
    // time is kept as it is. The newest row (highest rowid) of each key wins.
    let ts =
        "coalesce(strftime('%Y-%m-%d %H:%M:%S', metric_timestamp), CAST(metric_timestamp AS TEXT))";
    let metadata = if has_metadata {
        "coalesce(CAST(metadata AS TEXT), '')"
    } else {
        "''"
    };
    let insert = format!(
        "INSERT INTO {table} (metric_timestamp, metric_batch, metric_name, metric_type, metric_value, metadata)
         SELECT {ts}, metric_batch, metric_name, metric_type, metric_value, {metadata}
         FROM {old}
         WHERE rowid IN (
             SELECT max(rowid) FROM {old}
             WHERE metric_value IS NOT NULL AND metric_timestamp IS NOT NULL
               AND metric_batch IS NOT NULL AND metric_name IS NOT NULL AND metric_type IS NOT NULL
             GROUP BY metric_batch, metric_type, metric_name, {ts}
         )"
    );
    let kept = tx
        .execute(&insert, ())
        .await
        .context(context("cannot copy the rows"))?;
    tx.execute(&format!("DROP TABLE {old}"), ())
        .await
        .context(context("cannot drop the old table"))?;
    for (kind, name, sql) in &dependents {
        tx.execute(sql, ())
            .await
            .context(context(&format!("cannot recreate {kind} `{name}`")))?;
    }
    tx.commit()
        .await
        .context(context("cannot commit the transaction"))?;
    Ok(Some(Adopted {
        rows_before,
        rows_kept: kept,
        rows_incomplete,
    }))
}

/// Triggers on the table and views that may read it, as (kind, name, SQL), views first (a
/// trigger may name a view).
async fn dependents(
    conn: &Connection,
    table: &str,
) -> Result<Vec<(&'static str, String, String)>, StoreError> {
    let what = format!("cannot read the views and triggers of `{table}`");
    let mut rows = conn
        .query(
            "SELECT type, name, sql FROM sqlite_master
             WHERE sql IS NOT NULL AND ((type = 'trigger' AND tbl_name = ?1)
                OR (type = 'view' AND instr(lower(sql), lower(?1)) > 0))
             ORDER BY type = 'trigger', rowid",
            [table],
        )
        .await
        .context(what.clone())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await.context(what.clone())? {
        let kind = if row.get::<String>(0).context(what.clone())? == "view" {
            "VIEW"
        } else {
            "TRIGGER"
        };
        out.push((
            kind,
            row.get::<String>(1).context(what.clone())?,
            row.get::<String>(2).context(what.clone())?,
        ));
    }
    Ok(out)
}

/// The table's columns and their primary-key positions (empty when there is no such table).
async fn table_columns(conn: &Connection, table: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let mut rows = conn
        .query("SELECT name, pk FROM pragma_table_info(?1)", [table])
        .await
        .context(format!("cannot read the columns of `{table}`"))?;
    let mut out = Vec::new();
    while let Some(row) = rows
        .next()
        .await
        .context(format!("cannot read the columns of `{table}`"))?
    {
        let name: String = row
            .get(0)
            .context(format!("cannot read the columns of `{table}`"))?;
        let pk: i64 = row
            .get(1)
            .context(format!("cannot read the columns of `{table}`"))?;
        out.push((name, pk));
    }
    Ok(out)
}

/// Whether upserts can name the key: it is the primary key, or a unique index covers exactly it.
async fn has_key(
    conn: &Connection,
    table: &str,
    columns: &[(String, i64)],
) -> Result<bool, StoreError> {
    let is_key = |names: &[String]| {
        names.len() == KEY.len()
            && KEY
                .iter()
                .all(|k| names.iter().any(|n| n.eq_ignore_ascii_case(k)))
    };
    let pk: Vec<String> = columns
        .iter()
        .filter(|(_, pk)| *pk > 0)
        .map(|(name, _)| name.clone())
        .collect();
    if is_key(&pk) {
        return Ok(true);
    }
    let what = format!("cannot read the indexes of `{table}`");
    let mut rows = conn
        .query(
            "SELECT il.name FROM pragma_index_list(?1) AS il WHERE il.\"unique\" = 1",
            [table],
        )
        .await
        .context(what.clone())?;
    let mut unique = Vec::new();
    while let Some(row) = rows.next().await.context(what.clone())? {
        unique.push(row.get::<String>(0).context(what.clone())?);
    }
    for index in unique {
        let mut rows = conn
            .query("SELECT name FROM pragma_index_info(?1)", [index.as_str()])
            .await
            .context(what.clone())?;
        let mut names = Vec::new();
        while let Some(row) = rows.next().await.context(what.clone())? {
            names.push(row.get::<String>(0).context(what.clone())?);
        }
        if is_key(&names) {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn count(tx: &libsql::Transaction, sql: &str, table: &str) -> Result<u64, StoreError> {
    let what = format!("adopting metrics table `{table}`: cannot count rows");
    let mut rows = tx.query(sql, ()).await.context(what.clone())?;
    let n = match rows.next().await.context(what.clone())? {
        Some(row) => row.get::<i64>(0).context(what)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}
