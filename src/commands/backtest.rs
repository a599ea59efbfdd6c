//! `anomstack backtest`: replay CSV series (or NAB) through detection and print the scores.

use std::process::ExitCode;

use crate::backtest::{self, BacktestRequest};
use crate::cli::BacktestArgs;
use crate::config;

pub fn backtest(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let spec = match &args.config {
        Some(path) => match config::load_file(path) {
            Ok(batch) => batch.spec,
            Err(e) => {
                super::print_errors(&e);
                return Ok(ExitCode::FAILURE);
            }
        },
        None => config::builtin_defaults_batch("backtest")
            .map_err(|e| anyhow::anyhow!("the built-in defaults do not load: {e}"))?,
    };
    let settings = spec
        .replay_settings(args.retrain_every)
        .map_err(|e| anyhow::anyhow!("model_configs: {e}"))?;
    let (input, labels) = match (&args.input, &args.nab) {
        (Some(input), nab) => (
            input.clone(),
            nab.as_ref().map(|d| d.join("labels/combined_windows.json")),
        ),
        (None, Some(nab)) => (
            nab.join("data"),
            Some(nab.join("labels/combined_windows.json")),
        ),
        (None, None) => anyhow::bail!("give an input CSV or folder, or --nab DIR"),
    };
    if args.feedback && labels.is_none() {
        anyhow::bail!("--feedback answers alerts from labelled windows: give --nab DIR");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let request = BacktestRequest {
        input,
        output: args.output.clone(),
        settings,
        labels,
        threads,
        feedback: args.feedback,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let total = if request.input.is_file() {
        1
    } else {
        backtest::io::csv_files(&request.input)?.len()
    };
    bar.set_length(total as u64);
    let report = backtest::run(&request, &|done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    println!(
        "replayed {} files, {} rows, {} alerts; scores in {}",
        report.files,
        report.rows,
        report.alerts,
        args.output.display()
    );
    if let Some(profiles) = &report.nab {
        println!("NAB scores (alerts as sent; raw score at its best threshold):");
        for p in profiles {
            println!(
                "  {:<20} alerts {:>7.2} ({} of {} windows, {} false-positive rows)   anomaly_score {:>7.2} (threshold {:.4})",
                p.profile.name,
                p.alerts.normalized,
                p.alerts.windows_detected,
                p.alerts.windows_detected + p.alerts.windows_missed,
                p.alerts.fp_rows,
                p.optimized.normalized,
                p.optimized.threshold
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
