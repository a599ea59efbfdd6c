//! `anomstack serve` (the default): load, build the app, run it until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use crate::app::{App, shutdown_signal};
use crate::cli::ServeArgs;
use crate::config;

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (mut settings, env) = match super::settings(args.metrics_dir) {
        Ok(s) => s,
        Err(e) => {
            super::print_errors(&e);
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(port) = args.port {
        settings.listen.set_port(port);
    }
    let config = match config::load(&settings, &env) {
        Ok(c) => c,
        Err(e) => {
            super::print_errors(&e);
            eprintln!("refusing to start; fix the configuration (`anomstack validate` checks it)");
            return Ok(ExitCode::FAILURE);
        }
    };
    // Invalid batches do not stop the app: the valid ones run, and the dashboard and admin
    // panel show the invalid ones with their problems.
    config.log();
    tracing::info!(
        batches = config.batches.len(),
        disabled = config.disabled.len(),
        invalid = config.invalid.len(),
        metrics_dir = %settings.metrics_dir.display(),
        "configuration loaded"
    );
    let app = App::build(settings, config, env).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
