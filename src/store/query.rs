//! Running rendered templates (a batch's `ingest_sql`, `delete_sql`, `summary_sql`) whose
//! columns are the user's: rows come back as plain values for the job to interpret.

use libsql::Value;

use super::Store;
use super::error::{SqlContext, StoreError};

/// A query's column names and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl QueryResult {
    /// The index of a column, by name, case-insensitively.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }
}

impl Store {
    /// Runs a read query and collects every row.
    pub async fn query(&self, sql: &str, context: &str) -> Result<QueryResult, StoreError> {
        let conn = self.connect().await?;
        let mut rows = conn.query(sql, ()).await.context(context)?;
        let columns: Vec<String> = (0..rows.column_count())
            .map(|i| rows.column_name(i).unwrap_or_default().to_owned())
            .collect();
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.context(context)? {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                values.push(row.get_value(i as i32).context(context)?);
            }
            out.push(values);
        }
        Ok(QueryResult { columns, rows: out })
    }

    /// Runs a statement (such as a rendered `delete_sql`) and returns the rows it changed.
    pub async fn execute(&self, sql: &str, context: &str) -> Result<u64, StoreError> {
        let changed = self.changed(sql, (), context).await?;
        self.wrote();
        Ok(changed)
    }

    /// Runs one statement of the app's own with `params`; the rows it changed.
    pub(super) async fn changed(
        &self,
        sql: &str,
        params: impl libsql::params::IntoParams,
        context: &str,
    ) -> Result<u64, StoreError> {
        let conn = self.connect().await?;
        conn.execute(sql, params).await.context(context)
    }
}
