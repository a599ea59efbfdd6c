//! Change: per metric, the newest `change_detect_last_n` values are compared with the older
//! window (`change_sql`) by MAD modified z-score; above `change_threshold` they become
//! `change` rows, unless the metric changed within its newest `change_snooze_n` points.

use serde_json::json;

use super::{Event, JobCtx, JobError, JobReport, Notice, by_metric, read_rows};
use crate::config::Batch;
use crate::detect::rules::change_decisions;
use crate::store::{MetricRow, MetricType};

pub async fn run(ctx: &JobCtx, batch: &Batch) -> Result<JobReport, JobError> {
    let spec = &batch.spec;
    let mut report = JobReport::default();
    let rows = read_rows(ctx, batch, "change_sql", &spec.change_sql, &mut report).await?;
    let mut new_rows = Vec::new();
    for (metric, rows) in by_metric(rows) {
        let points: Vec<&MetricRow> = rows
            .iter()
            .filter(|r| r.metric_type == MetricType::Metric)
            .collect();
        let values: Vec<f64> = points.iter().map(|r| r.value).collect();
        let flagged: Vec<bool> = points
            .iter()
            .map(|p| {
                rows.iter()
                    .any(|r| r.metric_type == MetricType::Change && r.timestamp == p.timestamp)
            })
            .collect();
        for (i, z) in change_decisions(
            &values,
            &flagged,
            spec.change_detect_last_n,
            spec.change_snooze_n,
            spec.change_threshold,
        ) {
            let at = points[i].timestamp;
            new_rows.push(MetricRow {
                timestamp: at,
                batch: batch.name().to_owned(),
                name: metric.clone(),
                metric_type: MetricType::Change,
                value: 1.0,
                metadata: json!({"change_score": z}).to_string(),
            });
            report.notices.push(Notice {
                metric: metric.clone(),
                event: Event::Change {
                    at,
                    value: points[i].value,
                    z,
                    threshold: spec.change_threshold,
                },
            });
        }
    }
    let written = ctx.store.upsert_metrics(&spec.table_key, &new_rows).await?;
    report.rows_written = written.written as u64;
    for n in &report.notices {
        tracing::warn!(batch = batch.name(), "{}: {}", n.title(), n.description());
    }
    report.note(if written.written == 0 {
        "no new changes detected".to_owned()
    } else {
        format!("{} change(s)", written.written)
    });
    Ok(report)
}
