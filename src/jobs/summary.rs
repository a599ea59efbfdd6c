//! Summary: over every batch that keeps it on, per metric over the last day — newest
//! timestamp and how many metric, score and alert rows were stored (`summary_sql`). The
//! digest is returned as a notice for the channels (`notify`, a later issue).

use super::{JobCtx, JobError, JobReport, Notice, render};
use crate::config::Batch;
use crate::store::Value;

pub async fn run_summary(ctx: &JobCtx, batches: &[Batch]) -> Result<JobReport, JobError> {
    let mut report = JobReport::default();
    let mut lines = vec![format!(
        "{:<20} {:<40} {:<19} {:>8} {:>7} {:>7} {:>7} {:>5} {:>6}",
        "batch", "metric", "latest", "metrics", "scores", "alerts", "changes", "llm", "thold"
    )];
    // (alerts of every kind, batch, metric) for the "most anomalous" list.
    let mut busiest: Vec<(u64, String, String)> = Vec::new();
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
            lines.push(format!(
                "{:<20} {:<40} {:<19} {:>8} {:>7} {:>7} {:>7} {:>5} {:>6}",
                batch.name(),
                get(row, "metric_name"),
                get(row, "metric_timestamp_max"),
                get(row, "n_metric"),
                get(row, "n_score"),
                get(row, "n_alert"),
                get(row, "n_change"),
                get(row, "n_llmalert"),
                get(row, "n_tholdalert")
            ));
            let alerts: u64 = ["n_alert", "n_change", "n_llmalert", "n_tholdalert"]
                .iter()
                .filter_map(|c| get(row, c).parse::<u64>().ok())
                .sum();
            if alerts > 0 {
                busiest.push((alerts, batch.name().to_owned(), get(row, "metric_name")));
            }
        }
    }
    busiest.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
    if !busiest.is_empty() {
        lines.push(String::new());
        lines.push("Most anomalous over the period:".to_owned());
        for (n, batch, metric) in busiest.iter().take(10) {
            lines.push(format!("  {batch}/{metric}: {n} alert(s)"));
        }
    }
    report.notices.push(Notice {
        kind: "summary",
        metric: String::new(),
        title: "Anomstack Summary".to_owned(),
        description: lines.join("\n"),
    });
    report.note(format!("summary of {} metric(s)", report.rows_read));
    Ok(report)
}
