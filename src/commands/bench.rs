//! `anomstack bench …`: the measurements of BENCHMARKS.md (detection, pipeline, dashboard
//! seeding, HTTP load), printed as tables.

use std::process::ExitCode;

use crate::bench::{self, BenchConfig, pipeline as bench_pipeline};
use crate::cli::{BenchDashboardArgs, BenchDetectArgs, BenchLoadArgs, BenchPipelineArgs};
use crate::config;

/// The original Anomstack's detection defaults, for comparisons.
const ORIGINAL_DEFAULTS: &str = include_str!("../../bench/original_defaults.yaml");

pub async fn load(args: BenchLoadArgs) -> anyhow::Result<ExitCode> {
    let seconds = args.seconds.max(1);
    let loads = crate::bench::load::run(
        args.base.trim_end_matches('/'),
        &args.paths,
        args.connections,
        std::time::Duration::from_secs(seconds),
    )
    .await?;
    println!(
        "{} connections for {seconds} s against {}",
        args.connections, args.base
    );
    let (mut requests, mut errors) = (0, 0);
    for l in &loads {
        requests += l.requests();
        errors += l.errors;
        println!(
            "  {:<40} {:>8} req  {:>7.0} req/s  p50 {:>7.1} ms  p99 {:>7.1} ms  errors {}{}",
            l.path,
            l.requests(),
            l.requests() as f64 / seconds as f64,
            l.percentile_ms(0.5),
            l.percentile_ms(0.99),
            l.errors,
            if l.first_errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", l.first_errors.join("; "))
            }
        );
    }
    println!(
        "  total: {requests} requests, {:.0} req/s, {errors} errors",
        requests as f64 / seconds as f64
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn dashboard(args: BenchDashboardArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let rows = crate::bench::dashboard::seed(
        &args.dir,
        args.batches,
        args.metrics,
        args.points,
        args.seed,
    )
    .await?;
    println!(
        "seeded {} batches x {} metrics x {} points ({rows} rows) in {:.1} s; serve it with:",
        args.batches,
        args.metrics,
        args.points,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  ANOMSTACK_IGNORE_EXAMPLES=true ANOMSTACK_METRICS_DIR={0}/metrics ANOMSTACK_SQLITE_PATH={0}/app.db anomstack serve",
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn pipeline(args: BenchPipelineArgs) -> anyhow::Result<ExitCode> {
    let settings_yaml = match args.config.as_str() {
        // The original's detection settings, without its batch name.
        "original" => ORIGINAL_DEFAULTS
            .lines()
            .filter(|l| !l.starts_with("metric_batch:") && !l.starts_with("disable_ingest:"))
            .collect::<Vec<_>>()
            .join("\n"),
        "shipped" => String::new(),
        other => anyhow::bail!("--config `{other}`: use original or shipped"),
    };
    let yaml = format!("disable_ingest: true\n{settings_yaml}\n");
    let (dir, temporary) = match &args.dir {
        Some(dir) => (dir.clone(), false),
        None => (tempfile_dir()?, true),
    };
    println!(
        "pipeline: one batch of {} metrics x {} points in {} ({} detection settings)",
        args.metrics,
        args.points,
        dir.display(),
        args.config
    );
    let token =
        crate::config::Secret::new(std::env::var("ANOMSTACK_TURSO_AUTH_TOKEN").unwrap_or_default());
    let database = args.database_url.as_ref().map(|url| {
        if args.replica {
            crate::config::DatabaseLocation::Replica {
                path: dir.join("replica.db"),
                url: url.clone(),
                token: token.clone(),
            }
        } else {
            crate::config::DatabaseLocation::Remote {
                url: url.clone(),
                token: token.clone(),
            }
        }
    });
    let target = bench_pipeline::Target {
        database,
        server_stats: args.server_stats.clone(),
    };
    let result =
        bench_pipeline::run(&dir, &yaml, args.metrics, args.points, args.seed, &target).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let figures = result?;
    println!(
        "  seeded {} rows in {:.1} s (not timed below)",
        figures.rows_seeded, figures.seed_wall_s
    );
    for f in &figures.jobs {
        println!(
            "  {:<6} wall {:>7.3} s  CPU {:>7.3} s  peak RSS {}  rows read {:>8}  written {:>6}",
            f.job.as_str(),
            f.wall_s,
            f.cpu_s,
            f.peak_rss_mib
                .map_or("n/a".to_owned(), |m| format!("{m:>6.1} MiB")),
            f.rows_read,
            f.rows_written
        );
        if let Some(c) = f.server {
            println!(
                "         server: {} statements, {} rows read, {} rows written",
                c.statements, c.rows_read, c.rows_written
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn detect(args: BenchDetectArgs) -> anyhow::Result<ExitCode> {
    let mut configs = Vec::new();
    if matches!(args.config.as_str(), "original" | "both") {
        let dir = tempfile_dir()?;
        let path = dir.join("original_defaults.yaml");
        std::fs::write(&path, ORIGINAL_DEFAULTS)?;
        let spec = config::load_file(&path)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .spec;
        let _ = std::fs::remove_dir_all(&dir);
        configs.push(
            BenchConfig::from_batch("original (PCA + KNN)", &spec).map_err(anyhow::Error::msg)?,
        );
    }
    if matches!(args.config.as_str(), "shipped" | "both") {
        let spec = config::builtin_defaults_batch("bench").map_err(|e| anyhow::anyhow!("{e}"))?;
        configs
            .push(BenchConfig::from_batch("shipped defaults", &spec).map_err(anyhow::Error::msg)?);
    }
    if configs.is_empty() {
        anyhow::bail!("--config takes original, shipped or both");
    }
    println!(
        "detect: {} metrics x {} points, one thread (train on the newest train_max_n points, score the newest score_max_n)",
        args.metrics, args.points
    );
    for config in &configs {
        let r = bench::run(config, args.metrics, args.points, args.seed);
        println!(
            "  {:<22} train {:>7.3} s  score {:>7.3} s  total CPU {:>7.3} s  {:>9.0} metrics/s  peak RSS {}  models {:.1} MiB  alerts {}",
            r.label,
            r.train_cpu_s,
            r.score_cpu_s,
            r.cpu_s(),
            r.metrics_per_second(),
            r.peak_rss_mib
                .map_or("n/a".to_owned(), |m| format!("{m:.1} MiB")),
            r.model_bytes as f64 / 1_048_576.0,
            r.alerts
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("anomstack-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
