//! Summary: over every batch that keeps it on, per metric over the last day — newest
//! timestamp and how many metric, score and alert rows were stored (`summary_sql`) — as one
//! table, with the metrics that alerted most named first, and the alerts that alert budgets
//! held back.

use super::{Event, JobCtx, JobError, JobReport, Notice, Table, render};
use crate::config::Batch;
use crate::store::Value;

/// `summary_sql`'s columns, and their headings.
const COLUMNS: [(&str, &str); 8] = [
    ("metric_name", "metric"),
    ("metric_timestamp_max", "latest"),
    ("n_metric", "metrics"),
    ("n_score", "scores"),
    ("n_alert", "alerts"),
    ("n_change", "changes"),
    ("n_llmalert", "llm"),
    ("n_tholdalert", "thold"),
];

pub async fn run_summary(ctx: &JobCtx, batches: &[Batch]) -> Result<JobReport, JobError> {
    let mut report = JobReport::default();
    let mut table = Table {
        columns: std::iter::once("batch")
            .chain(COLUMNS.iter().map(|c| c.1))
            .map(str::to_owned)
            .collect(),
        rows: Vec::new(),
    };
    // (alerts of every kind, batch, metric) for the "most anomalous" list.
    let mut busiest: Vec<(u64, String, String)> = Vec::new();
    let mut held = Vec::new();
    for batch in batches.iter().filter(|b| !b.spec.disable_summary) {
        let sql = render(ctx, batch, "summary_sql", &batch.spec.summary_sql)?;
        let result = ctx.store.query(&sql, "summary_sql failed").await?;
        report.rows_read += result.rows.len() as u64;
        let get = |row: &Vec<Value>, name: &str| -> String {
            match result.column(name).map(|i| &row[i]) {
                Some(Value::Text(t)) => t.clone(),
                Some(Value::Integer(i)) => i.to_string(),
                Some(Value::Real(r)) => r.to_string(),
                _ => String::new(),
            }
        };
        for row in &result.rows {
            let mut cells = vec![batch.name().to_owned()];
            cells.extend(COLUMNS.iter().map(|(column, _)| get(row, column)));
            let alerts: u64 = ["n_alert", "n_change", "n_llmalert", "n_tholdalert"]
                .iter()
                .filter_map(|c| get(row, c).parse::<u64>().ok())
                .sum();
            if alerts > 0 {
                busiest.push((alerts, batch.name().to_owned(), get(row, "metric_name")));
            }
            table.rows.push(cells);
        }
        let since = ctx.run_ts.naive_utc()
            - chrono::Duration::days(i64::from(
                batch.spec.summary_metric_timestamp_max_days_ago.max(1),
            ));
        for h in ctx
            .store
            .held_alerts(&batch.spec.table_key, batch.name(), since)
            .await?
        {
            held.push((batch.name().to_owned(), h.metric, h.timestamp));
        }
    }
    busiest.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
    report.notices.push(Notice {
        metric: String::new(),
        event: Event::Summary {
            busiest,
            table,
            held,
        },
    });
    report.note(format!("summary of {} metric(s)", report.rows_read));
    Ok(report)
}
