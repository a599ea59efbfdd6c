//! The `anomstack` binary: parse arguments, set up logging, load settings, and hand each
//! subcommand to the library.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use anomstack::cli::{Cli, Command, ServeArgs, ValidateArgs};
use anomstack::config::{self, ConfigErrors, EnvVars, Settings};
use anomstack::store::Store;
use anomstack::web::AppState;
use anomstack::{password, serve, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve_command(args).await,
        Command::Validate(args) => Ok(validate_command(args)),
        Command::HashPassword => hash_password_command(),
    }
}

fn settings(metrics_dir: Option<std::path::PathBuf>) -> Result<(Settings, EnvVars), ConfigErrors> {
    // A .env file in the working directory fills variables that are not already set.
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

async fn serve_command(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (mut settings, env) = match settings(args.metrics_dir) {
        Ok(s) => s,
        Err(e) => {
            print_errors(&e);
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(port) = args.port {
        settings.listen.set_port(port);
    }
    let config = match config::load(&settings, &env) {
        Ok(c) => c,
        Err(e) => {
            print_errors(&e);
            eprintln!("refusing to start; fix the configuration (`anomstack validate` checks it)");
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(
        batches = config.batches.len(),
        disabled = config.disabled.len(),
        metrics_dir = %settings.metrics_dir.display(),
        "configuration loaded"
    );

    let store = Store::open(&settings.database)
        .await
        .context("cannot open the app database")?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(
        version = anomstack::version::VERSION,
        "listening on http://{addr}"
    );

    let state = AppState {
        store,
        config: Arc::new(config),
    };
    serve::run(listener, state, serve::shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

fn validate_command(args: ValidateArgs) -> ExitCode {
    let (settings, env) = match settings(args.metrics_dir) {
        Ok(s) => s,
        Err(e) => {
            print_errors(&e);
            return ExitCode::FAILURE;
        }
    };
    match config::load(&settings, &env) {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
            println!(
                "ok: {} batch{} in {} ({}){}",
                names.len(),
                if names.len() == 1 { "" } else { "es" },
                settings.metrics_dir.display(),
                names.join(", "),
                if config.disabled.is_empty() {
                    String::new()
                } else {
                    format!("; {} disabled", config.disabled.len())
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_errors(&e);
            ExitCode::FAILURE
        }
    }
}

fn hash_password_command() -> anyhow::Result<ExitCode> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read the password")?;
        if first != again {
            eprintln!("error: the passwords do not match");
            return Ok(ExitCode::FAILURE);
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let hash = password::hash_password(&password)?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}
