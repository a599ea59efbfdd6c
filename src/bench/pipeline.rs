//! `anomstack bench pipeline`: the train, score and alert jobs on a database holding one batch
//! of N metrics × P points, run as `anomstack serve` runs them (same job code, a local libsql
//! file or a Turso database, models in a local folder): wall time, CPU seconds of all threads
//! and peak memory of each job, and, given a libSQL server's admin address, what the server
//! counted for each job (statements, rows read and written: what Turso bills).

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{peak_rss_mib, process_cpu_seconds, reset_peak_rss, synthetic_series};
use crate::config::{self, BatchJob, DatabaseLocation, EnvVars, Settings};
use crate::detect::rng::Rng;
use crate::jobs::{self, JobCtx, JobError, Trigger};
use crate::store::{MetricRow, MetricType, Store, StoreError};

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineBenchError {
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the benchmark batch does not load: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error("{0}")]
    Stats(String),
}

/// One job's figures.
#[derive(Debug, Clone)]
pub struct JobFigures {
    pub job: BatchJob,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub rows_read: u64,
    pub rows_written: u64,
    /// The server's counts for this job, with `Target::server_stats`.
    pub server: Option<ServerCounts>,
}

/// What a libSQL server counted (its admin API's `stats`), or the difference of two counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCounts {
    pub statements: u64,
    pub rows_read: u64,
    pub rows_written: u64,
}

impl ServerCounts {
    /// Reads `GET {admin}/v1/namespaces/default/stats`.
    pub async fn fetch(client: &reqwest::Client, admin: &str) -> Result<Self, String> {
        let url = format!(
            "{}/v1/namespaces/default/stats",
            admin.trim_end_matches('/')
        );
        let stats: serde_json::Value = client
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot read the server's stats at {url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the server's stats at {url} are not JSON: {e}"))?;
        let n = |key: &str| {
            stats
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        Ok(Self {
            statements: n("query_count"),
            rows_read: n("rows_read_count"),
            rows_written: n("rows_written_count"),
        })
    }

    fn since(self, before: Self) -> Self {
        Self {
            statements: self.statements.saturating_sub(before.statements),
            rows_read: self.rows_read.saturating_sub(before.rows_read),
            rows_written: self.rows_written.saturating_sub(before.rows_written),
        }
    }
}

/// Where the benchmark's database is.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Default: `app.db` in the benchmark's folder.
    pub database: Option<DatabaseLocation>,
    /// A libSQL server's admin address (sqld's `--admin-listen-addr`), to count per job.
    pub server_stats: Option<String>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct PipelineFigures {
    pub rows_seeded: usize,
    pub seed_wall_s: f64,
    pub jobs: Vec<JobFigures>,
}

/// The name of the benchmark batch.
pub const BATCH: &str = "bench";

/// Writes `batch_yaml` (without `metric_batch`, `model_path`) as batch `bench` under `dir`,
/// fills `dir/app.db` with `metrics` synthetic series of `points` points ending now, then runs
/// the train, score and alert jobs once each.
pub async fn run(
    dir: &Path,
    batch_yaml: &str,
    metrics: usize,
    points: usize,
    seed: u64,
    target: &Target,
) -> Result<PipelineFigures, PipelineBenchError> {
    let metrics_dir = dir.join("metrics");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PipelineBenchError::Io { path, source }
    };
    std::fs::create_dir_all(&metrics_dir).map_err(io(&metrics_dir))?;
    let yaml = format!(
        "metric_batch: {BATCH}\nmodel_path: local://{}\n{batch_yaml}",
        dir.join("models").display()
    );
    let file = metrics_dir.join("bench.yaml");
    std::fs::write(&file, yaml).map_err(io(&file))?;

    let env = EnvVars::default();
    let mut settings =
        Settings::from_env(&env).map_err(|e| PipelineBenchError::Config(e.to_string()))?;
    settings.metrics_dir = metrics_dir;
    settings.database = target
        .database
        .clone()
        .unwrap_or_else(|| DatabaseLocation::Local {
            path: dir.join("app.db"),
        });
    let config =
        config::load(&settings, &env).map_err(|e| PipelineBenchError::Config(e.to_string()))?;
    if !config.is_valid() {
        return Err(PipelineBenchError::Config(config.problems().to_string()));
    }
    let batch = config
        .batch(BATCH)
        .ok_or_else(|| PipelineBenchError::Config("batch `bench` is disabled".into()))?;
    let store = Store::open_from(&settings).await?;

    // Points every 5 minutes up to now, so every default time window holds them.
    let run_ts = Utc::now()
        .duration_trunc(Duration::minutes(5))
        .unwrap_or_else(|_| Utc::now());
    let seeded = Instant::now();
    let rows_seeded =
        seed_metrics(&store, &batch.spec.table_key, run_ts, metrics, points, seed).await?;
    let seed_wall_s = seeded.elapsed().as_secs_f64();

    let ctx = JobCtx::new(store.clone(), config.templates.clone(), run_ts);
    let mut figures = Vec::new();
    let client = crate::http::client(std::time::Duration::from_secs(10))
        .map_err(|e| PipelineBenchError::Stats(e.to_string()))?;
    let counts = async || match &target.server_stats {
        Some(admin) => ServerCounts::fetch(&client, admin)
            .await
            .map(Some)
            .map_err(PipelineBenchError::Stats),
        None => Ok(None),
    };
    for job in [BatchJob::Train, BatchJob::Score, BatchJob::Alert] {
        let before = counts().await?;
        reset_peak_rss();
        let (wall, cpu) = (Instant::now(), process_cpu_seconds());
        let report = jobs::run_recorded(&ctx, batch, job, Trigger::Cli).await?;
        let (wall_s, cpu_s, peak) = (
            wall.elapsed().as_secs_f64(),
            process_cpu_seconds() - cpu,
            peak_rss_mib(),
        );
        let after = counts().await?;
        figures.push(JobFigures {
            job,
            wall_s,
            cpu_s,
            peak_rss_mib: peak,
            rows_read: report.rows_read,
            rows_written: report.rows_written,
            server: after.zip(before).map(|(a, b)| a.since(b)),
        });
    }
    Ok(PipelineFigures {
        rows_seeded,
        seed_wall_s,
        jobs: figures,
    })
}

/// Stores `metrics` seeded series of `points` points, the last at `end`, 5 minutes apart.
async fn seed_metrics(
    store: &Store,
    table: &str,
    end: DateTime<Utc>,
    metrics: usize,
    points: usize,
    seed: u64,
) -> Result<usize, StoreError> {
    const CHUNK: usize = 50_000;
    let mut rng = Rng::seeded(seed);
    let start = end - Duration::minutes(5 * (points as i64 - 1).max(0));
    let mut rows = Vec::with_capacity(CHUNK + points);
    let mut total = 0;
    for m in 0..metrics {
        let name = format!("metric_{m:05}");
        for (i, (_, value)) in synthetic_series(&mut rng, points).into_iter().enumerate() {
            rows.push(MetricRow {
                timestamp: (start + Duration::minutes(5 * i as i64)).naive_utc(),
                batch: BATCH.to_owned(),
                name: name.clone(),
                metric_type: MetricType::Metric,
                value,
                metadata: String::new(),
            });
        }
        if rows.len() >= CHUNK || m + 1 == metrics {
            total += store.upsert_metrics(table, &rows).await?.written;
            rows.clear();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_jobs_run_on_a_seeded_database_and_write_models_and_scores() {
        let dir = tempfile::tempdir().unwrap();
        let figures = run(
            dir.path(),
            "disable_ingest: true\n",
            3,
            300,
            1,
            &Target::default(),
        )
        .await
        .unwrap();
        assert_eq!(figures.rows_seeded, 900);
        let by_job = |j: BatchJob| figures.jobs.iter().find(|f| f.job == j).unwrap();
        assert_eq!(by_job(BatchJob::Train).rows_read, 900);
        assert_eq!(
            by_job(BatchJob::Train).rows_written,
            3,
            "one model per metric"
        );
        assert!(by_job(BatchJob::Score).rows_written >= 3);
        assert!(dir.path().join("models").join(BATCH).is_dir());
    }
}
