//! `anomstack bench dashboard`: a database of B batches × M metrics × P points (values every
//! 5 minutes up to now, scores on the newest 100, a few alerts), and the metrics folder that
//! goes with it, for load tests of the dashboard with `anomstack serve` (see
//! `scripts/bench-dashboard.sh`). Each batch keeps its schedules, so the scheduler and
//! workers run real jobs while the pages are loaded.

use std::path::Path;

use chrono::{Duration, DurationRound, Utc};

use super::pipeline::PipelineBenchError;
use super::synthetic_series;
use crate::detect::rng::Rng;
use crate::store::{MetricRow, MetricType, Store};

/// Scored points per metric.
const SCORED: usize = 100;

/// Writes `dir/metrics/b<NN>.yaml` and fills `dir/app.db`; returns the rows written.
pub async fn seed(
    dir: &Path,
    batches: usize,
    metrics: usize,
    points: usize,
    seed: u64,
) -> Result<usize, PipelineBenchError> {
    let metrics_dir = dir.join("metrics");
    std::fs::create_dir_all(&metrics_dir).map_err(|source| PipelineBenchError::Io {
        path: metrics_dir.clone(),
        source,
    })?;
    let store = Store::open(&crate::config::DatabaseLocation::Local {
        path: dir.join("app.db"),
    })
    .await?;
    let end = Utc::now()
        .duration_trunc(Duration::minutes(5))
        .unwrap_or_else(|_| Utc::now());
    let start = end - Duration::minutes(5 * (points as i64 - 1).max(0));
    let mut rng = Rng::seeded(seed);
    let mut total = 0;
    for b in 0..batches {
        let batch = format!("b{b:02}");
        // One new point of one metric per ingest, every minute, with score and alert after
        // it and training every other minute: the scheduler and workers are busy while the
        // pages are measured.
        let yaml = format!(
            "metric_batch: {batch}\nmodel_path: local://{models}\n\
             ingest_sql: >\n  SELECT {{{{ run_ts | sql_quote }}}} AS metric_timestamp,\n  \
             'metric_000' AS metric_name, abs(random() % 100) AS metric_value\n\
             ingest_cron_schedule: \"* * * * *\"\nscore_cron_schedule: \"* * * * *\"\n\
             alert_cron_schedule: \"* * * * *\"\ntrain_cron_schedule: \"*/2 * * * *\"\n\
             ingest_default_schedule_status: RUNNING\nscore_default_schedule_status: RUNNING\n\
             alert_default_schedule_status: RUNNING\ntrain_default_schedule_status: RUNNING\n",
            models = dir.join("models").display()
        );
        let file = metrics_dir.join(format!("{batch}.yaml"));
        std::fs::write(&file, yaml).map_err(|source| PipelineBenchError::Io {
            path: file.clone(),
            source,
        })?;
        let mut rows = Vec::with_capacity(metrics * (points + SCORED));
        for m in 0..metrics {
            let name = format!("metric_{m:03}");
            let series = synthetic_series(&mut rng, points);
            for (i, (_, value)) in series.into_iter().enumerate() {
                let ts = (start + Duration::minutes(5 * i as i64)).naive_utc();
                let row = |metric_type, value| MetricRow {
                    timestamp: ts,
                    batch: batch.clone(),
                    name: name.clone(),
                    metric_type,
                    value,
                    metadata: String::new(),
                };
                rows.push(row(MetricType::Metric, value));
                if i + SCORED >= points {
                    let score = rng.next_f64().powi(8);
                    rows.push(row(MetricType::Score, score));
                    if score > 0.98 {
                        rows.push(row(MetricType::Alert, 1.0));
                    }
                }
            }
        }
        total += store.upsert_metrics("metrics", &rows).await?.written;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_writes_batches_that_load_and_rows_that_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let rows = seed(dir.path(), 2, 3, 150, 1).await.unwrap();
        assert!(rows >= 2 * 3 * (150 + SCORED));
        let env = crate::config::EnvVars::default();
        let mut settings = crate::config::Settings::from_env(&env).unwrap();
        settings.metrics_dir = dir.path().join("metrics");
        settings.ignore_examples = true;
        let config = crate::config::load(&settings, &env).unwrap();
        let b = config.batch("b00").unwrap();
        assert!(config.batch("b01").is_some());
        let scheduled = crate::queue::scheduler::entries(&config);
        assert!(
            scheduled.iter().filter(|e| e.batch == b.name()).count() >= 4,
            "ingest, train, score and alert are scheduled"
        );
    }
}
