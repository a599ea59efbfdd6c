//! Delete: retention per batch, every row type older than `delete_after_n_days` (`delete_sql`).

use super::{JobCtx, JobError, JobReport, render};
use crate::config::Batch;

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let mut report = JobReport::default();
    let sql = render(ctx, batch, "delete_sql", &batch.spec.delete_sql)?;
    let deleted = ctx.store.execute(&sql, "delete_sql failed").await?;
    report.rows_written = deleted;
    report.note(format!(
        "deleted {deleted} row(s) older than {} days",
        batch.spec.delete_after_n_days
    ));
    Ok(report)
}
