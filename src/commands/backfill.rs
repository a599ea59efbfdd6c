//! `anomstack backfill BATCH --from … --every …`: ingest at past run times, then train and
//! score, so a new batch gets history.

use std::process::ExitCode;

use crate::cli::BackfillArgs;
use crate::connectors::Connectors;
use crate::jobs::{self, JobCtx, Services};
use crate::timestamp::{parse_duration, parse_lenient};

pub async fn backfill(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let parse = |s: &str| {
        parse_lenient(s).map(|t| t.and_utc()).ok_or_else(|| {
            anyhow::anyhow!("`{s}` is not a time: use YYYY-MM-DD HH:MM:SS (UTC) or RFC 3339")
        })
    };
    let from = parse(&args.from)?;
    let to = match &args.to {
        Some(t) => parse(t)?,
        None => chrono::Utc::now(),
    };
    let every = parse_duration(&args.every).ok_or_else(|| {
        anyhow::anyhow!(
            "--every `{}`: use a duration such as 5m, 1h or 1d",
            args.every
        )
    })?;
    if to < from {
        anyhow::bail!("--to is before --from");
    }
    let mut times = Vec::new();
    let mut at = from;
    while at <= to {
        times.push(at);
        at += every;
    }
    if times.len() > 100_000 {
        anyhow::bail!("{} runs is too many; use a larger --every", times.len());
    }
    let Some((config, store, settings)) = super::run::open_for_jobs(args.metrics_dir).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let batch = super::run::find_batch(&config, &args.batch)?;
    // History is not news: a backfill sends no alerts.
    let services = Services {
        connectors: Connectors::from_settings(&settings),
        ..Services::local(store)
    };
    let ctx = JobCtx::for_run(&services, config.templates.clone(), to);
    let bar = indicatif::ProgressBar::new(times.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} ingest runs  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = jobs::backfill(&ctx, batch, &times, jobs::Trigger::Backfill, &|done| {
        bar.set_position(done as u64)
    })
    .await;
    bar.finish_and_clear();
    match report {
        Ok(report) => {
            super::run::print_report("backfill", &report);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("backfill failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
