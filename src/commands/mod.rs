//! The subcommands of the `anomstack` binary, one file each; [`run`] dispatches the parsed
//! command line. They print for people (tables, progress bars); the work is the library's.

mod backfill;
mod backtest;
mod bench;
mod hash_password;
mod healthcheck;
mod mcp;
mod run;
mod serve;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{BenchCommand, Cli, Command, ServeArgs};
use crate::config::{ConfigErrors, EnvVars, Settings};

/// Runs the command `cli` names (`serve` when none).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve::serve(args).await,
        Command::Validate(args) => Ok(validate::validate(args)),
        Command::HashPassword => hash_password::hash_password(),
        Command::Backtest(args) => backtest::backtest(args),
        Command::Bench(BenchCommand::Detect(args)) => bench::detect(args),
        Command::Bench(BenchCommand::Pipeline(args)) => bench::pipeline(args).await,
        Command::Bench(BenchCommand::Dashboard(args)) => bench::dashboard(args).await,
        Command::Bench(BenchCommand::Load(args)) => bench::load(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Backfill(args) => backfill::backfill(args).await,
        Command::Healthcheck(args) => healthcheck::healthcheck(args).await,
        Command::Mcp(args) => mcp::mcp(args).await,
    }
}

/// The settings from the environment (and a `.env` file in the working directory, which
/// fills variables that are not already set), with `--metrics-dir` over them.
fn settings(metrics_dir: Option<PathBuf>) -> Result<(Settings, EnvVars), ConfigErrors> {
    let env = EnvVars::from_process_and_file(std::path::Path::new(".env"))?;
    let mut settings = Settings::from_env(&env)?;
    if let Some(dir) = metrics_dir {
        settings.metrics_dir = dir;
    }
    Ok((settings, env))
}

fn print_errors(errors: &ConfigErrors) {
    eprintln!("{errors}");
}
