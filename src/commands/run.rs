//! `anomstack run JOB [BATCH]`: one job, a pipeline or the summary, now, recorded like a
//! scheduled run and sending its alerts; and what the one-off commands share.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::config::{self, Settings};
use crate::jobs::{self, Job, JobCtx, Services, Trigger, Work};
use crate::store::Store;

/// Loads settings, config and the store for a one-off command.
pub(super) async fn open_for_jobs(
    metrics_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<Option<(config::Config, Store, Settings)>> {
    let (settings, env) = match super::settings(metrics_dir) {
        Ok(s) => s,
        Err(e) => {
            super::print_errors(&e);
            return Ok(None);
        }
    };
    let config = match config::load(&settings, &env) {
        Ok(c) => c,
        Err(e) => {
            super::print_errors(&e);
            return Ok(None);
        }
    };
    let store = Store::open_from(&settings)
        .await
        .context("cannot open the app database")?;
    Ok(Some((config, store, settings)))
}

/// The enabled, valid batch `name`, after printing what this build or environment lacks for it.
pub(super) fn find_batch<'a>(
    config: &'a config::Config,
    name: &str,
) -> anyhow::Result<&'a config::Batch> {
    if let Some(batch) = config.batch(name) {
        for w in &batch.warnings {
            eprintln!("warning: {w}");
        }
    }
    if let Some(invalid) = config.invalid_batch(name) {
        let lines: Vec<String> = invalid.errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::bail!(
            "batch `{name}` does not validate, so it cannot run:\n{}",
            lines.join("\n")
        );
    }
    config.batch(name).ok_or_else(|| {
        let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
        anyhow::anyhow!("no enabled batch `{name}` (batches: {})", names.join(", "))
    })
}

pub(super) fn print_report(job: &str, report: &jobs::JobReport) {
    println!(
        "{job}: read {} row(s), wrote {}",
        report.rows_read, report.rows_written
    );
    for line in &report.log {
        println!("  {line}");
    }
    for s in &report.skipped {
        println!("  skipped {s}");
    }
    for n in &report.notices {
        println!(
            "  {}\n    {}",
            n.title(),
            n.description().replace('\n', "\n    ")
        );
        if let Some(table) = n.table() {
            println!(
                "    {}",
                crate::notify::message::aligned(table).replace('\n', "\n    ")
            );
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some((config, store, settings)) = open_for_jobs(args.metrics_dir).await? else {
        return Ok(ExitCode::FAILURE);
    };
    // A job run by hand sends its alerts like a scheduled one.
    let services = Services::from_settings(store, &settings)?;
    let ctx = JobCtx::for_run(&services, config.templates.clone(), chrono::Utc::now());
    let job = args.job.parse::<Job>().map_err(|why| {
        anyhow::anyhow!(
            "{why}: ingest, train, score, alert, change, llmalert, plot, delete, summary or pipeline"
        )
    })?;
    let work = match (job, &args.batch) {
        (Job::Summary, _) => Work::Summary(&config.batches),
        (_, None) => anyhow::bail!("`anomstack run {job}` needs a batch name"),
        (Job::Pipeline, Some(name)) => Work::Pipeline(find_batch(&config, name)?),
        (Job::Batch(one), Some(name)) => Work::One(find_batch(&config, name)?, one),
    };
    let mut code = ExitCode::SUCCESS;
    for (job, result) in jobs::run(&ctx, work, Trigger::Cli, None).await.0 {
        match result {
            Ok(report) => print_report(job.as_str(), &report),
            Err(e) => {
                eprintln!("{job}: failed: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}
