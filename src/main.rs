//! The `anomstack` binary: parse arguments, set up logging, load settings, and hand each
//! subcommand to the library.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use anomstack::cli::{
    BackfillArgs, BacktestArgs, BenchCommand, BenchDashboardArgs, BenchDetectArgs,
    BenchPipelineArgs, Cli, Command, RunArgs, ServeArgs, ValidateArgs,
};
use anomstack::config::{self, ConfigErrors, EnvVars, LiveConfig, Settings};
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
        Command::Backtest(args) => backtest_command(args),
        Command::Bench(BenchCommand::Detect(args)) => bench_detect_command(args),
        Command::Bench(BenchCommand::Pipeline(args)) => bench_pipeline_command(args).await,
        Command::Bench(BenchCommand::Dashboard(args)) => bench_dashboard_command(args).await,
        Command::Bench(BenchCommand::Load(args)) => bench_load_command(args).await,
        Command::Run(args) => run_command(args).await,
        Command::Backfill(args) => backfill_command(args).await,
        Command::Healthcheck(args) => healthcheck_command(args).await,
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

    let notifier = build_notifier(&settings)?;
    let poll = settings.config_poll;
    let config = LiveConfig::new(config, settings.clone(), env);
    let (fire, shutdown) = serve::Shutdown::new();
    let mut background = Vec::new();
    if let Some(every) = poll {
        background.push(tokio::spawn(
            config.clone().watch(every, shutdown.clone().wait()),
        ));
    }
    if settings.scheduler {
        background.push(tokio::spawn(anomstack::queue::scheduler::run(
            store.clone(),
            config.clone(),
            shutdown.clone().wait(),
        )));
    }
    if settings.seed_hours > 0 {
        let ctx = anomstack::jobs::JobCtx {
            connectors: anomstack::connectors::Connectors::from_settings(&settings),
            ..anomstack::jobs::JobCtx::new(
                store.clone(),
                config.current().templates.clone(),
                chrono::Utc::now(),
            )
        };
        let (batches, hours) = (config.current().batches.clone(), settings.seed_hours);
        // In the background: the dashboard answers at once and fills as batches are seeded;
        // a shutdown stops it (each ingest is idempotent, so a later seed or schedule resumes).
        let stop = shutdown.clone().wait();
        background.push(tokio::spawn(async move {
            let seed = anomstack::jobs::seed_empty_batches(
                &ctx,
                &batches,
                hours,
                chrono::Duration::minutes(10),
            );
            tokio::select! {
                _ = seed => {}
                () = stop => {}
            }
        }));
    }
    if let Some(keep) = settings.history {
        background.push(tokio::spawn(anomstack::queue::housekeeping::run(
            store.clone(),
            keep,
            shutdown.clone().wait(),
        )));
    }
    let connectors = anomstack::connectors::Connectors::from_settings(&settings);
    if settings.workers {
        let env = Arc::new(anomstack::queue::worker::WorkerEnv {
            store: store.clone(),
            config: config.clone(),
            worker_id: anomstack::queue::worker::new_worker_id(),
            kill_after: settings.kill_run_after,
            stale_after: settings.worker_stale,
            notifier: notifier.clone(),
            llm: build_llm(&settings)?,
            connectors: connectors.clone(),
        });
        background.push(tokio::spawn(anomstack::queue::worker::run(
            env,
            settings.worker_concurrency,
            settings.shutdown_grace,
            shutdown.clone().wait(),
        )));
    }
    match &settings.admin.credentials {
        Some(c) => tracing::info!(user = c.username, "admin panel on at /admin"),
        None => tracing::info!(
            "admin panel off: set ANOMSTACK_ADMIN_USERNAME and ANOMSTACK_ADMIN_PASSWORD_HASH (see `anomstack hash-password`)"
        ),
    }
    let state = AppState::new(store, config)
        .with_public_feedback(settings.public_feedback)
        .with_admin(settings.admin.clone())
        .with_notifier(notifier)
        .with_connectors(connectors);
    let web_shutdown = shutdown.clone();
    tokio::spawn(async move {
        serve::shutdown_signal().await;
        let _ = fire.send(true);
    });
    serve::run(listener, state, web_shutdown.wait())
        .await
        .context("the server stopped with an error")?;
    for task in background {
        let _ = task.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The alert channels the environment configures, said in the log (never their secrets).
fn build_notifier(settings: &Settings) -> anyhow::Result<Option<Arc<anomstack::notify::Notifier>>> {
    let c = &settings.channels;
    let on: Vec<&str> = [
        c.email.as_ref().map(|_| "email"),
        c.slack.as_ref().map(|_| "slack"),
        c.webhook.as_ref().map(|_| "webhook"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if on.is_empty() {
        tracing::info!(
            "no alert channels configured: alerts are saved and shown, not sent (see .example.env)"
        );
    } else {
        tracing::info!(channels = on.join(","), "alert channels configured");
    }
    let notifier =
        anomstack::notify::Notifier::new(c.clone()).context("cannot set up alert delivery")?;
    Ok(Some(Arc::new(notifier)))
}

/// The LLM client for `llmalert`, when one is configured.
fn build_llm(settings: &Settings) -> anyhow::Result<Option<Arc<anomstack::llm::LlmClient>>> {
    match &settings.llm {
        None => Ok(None),
        Some(llm) => {
            let url = anomstack::config::mask::mask_url_password(&llm.base_url)
                .unwrap_or_else(|| llm.base_url.clone());
            tracing::info!(url, "LLM configured for llmalert");
            let client = anomstack::llm::LlmClient::new(llm.clone())
                .context("cannot set up the LLM client")?;
            Ok(Some(Arc::new(client)))
        }
    }
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
            for note in &config.notes {
                eprintln!("note: {note}");
            }
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
            let plural = |n: usize| if n == 1 { "" } else { "es" };
            let disabled = if config.disabled.is_empty() {
                String::new()
            } else {
                format!("; {} disabled", config.disabled.len())
            };
            if config.is_valid() {
                println!(
                    "ok: {} batch{} in {} ({}){disabled}",
                    names.len(),
                    plural(names.len()),
                    settings.metrics_dir.display(),
                    names.join(", "),
                );
                return ExitCode::SUCCESS;
            }
            print_errors(&config.problems());
            let invalid: Vec<String> = config.invalid.iter().map(|b| b.label()).collect();
            eprintln!(
                "{} batch{} in {} would run ({}){disabled}; {} invalid batch{} would not ({})",
                names.len(),
                plural(names.len()),
                settings.metrics_dir.display(),
                names.join(", "),
                invalid.len(),
                plural(invalid.len()),
                invalid.join(", "),
            );
            ExitCode::FAILURE
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

fn backtest_command(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    use anomstack::backtest::{self, BacktestRequest, ReplaySettings};

    let spec = match &args.config {
        Some(path) => match config::load_file(path) {
            Ok(batch) => batch.spec,
            Err(e) => {
                print_errors(&e);
                return Ok(ExitCode::FAILURE);
            }
        },
        None => config::builtin_defaults_batch("backtest")
            .map_err(|e| anyhow::anyhow!("the built-in defaults do not load: {e}"))?,
    };
    let settings = ReplaySettings::from_batch(&spec, args.retrain_every)
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
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let request = BacktestRequest {
        input,
        output: args.output.clone(),
        settings,
        labels,
        threads,
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

/// The original Anomstack's detection defaults, for comparisons.
const ORIGINAL_DEFAULTS: &str = include_str!("../bench/original_defaults.yaml");

async fn bench_load_command(args: anomstack::cli::BenchLoadArgs) -> anyhow::Result<ExitCode> {
    let seconds = args.seconds.max(1);
    let loads = anomstack::bench::load::run(
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

async fn bench_dashboard_command(args: BenchDashboardArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let rows = anomstack::bench::dashboard::seed(
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

async fn bench_pipeline_command(args: BenchPipelineArgs) -> anyhow::Result<ExitCode> {
    use anomstack::bench::pipeline;

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
    let result = pipeline::run(&dir, &yaml, args.metrics, args.points, args.seed).await;
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
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_detect_command(args: BenchDetectArgs) -> anyhow::Result<ExitCode> {
    use anomstack::bench::{self, BenchConfig};

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

/// Loads settings, config and the store for a one-off command.
async fn open_for_jobs(
    metrics_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<Option<(config::Config, Store, Settings)>> {
    let (settings, env) = match settings(metrics_dir) {
        Ok(s) => s,
        Err(e) => {
            print_errors(&e);
            return Ok(None);
        }
    };
    let config = match config::load(&settings, &env) {
        Ok(c) => c,
        Err(e) => {
            print_errors(&e);
            return Ok(None);
        }
    };
    let store = Store::open(&settings.database)
        .await
        .context("cannot open the app database")?;
    Ok(Some((config, store, settings)))
}

/// The enabled, valid batch `name`, after printing what this build or environment lacks for it.
fn find_batch<'a>(config: &'a config::Config, name: &str) -> anyhow::Result<&'a config::Batch> {
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

fn print_report(job: &str, report: &anomstack::jobs::JobReport) {
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
            n.title,
            n.description.replace('\n', "\n    ")
        );
        if let Some(table) = &n.table {
            println!(
                "    {}",
                anomstack::notify::message::aligned(table).replace('\n', "\n    ")
            );
        }
    }
}

async fn run_command(args: RunArgs) -> anyhow::Result<ExitCode> {
    use anomstack::jobs::{self, JobCtx, Trigger};
    use anomstack::queue::Job;

    let Some((config, store, settings)) = open_for_jobs(args.metrics_dir).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let ctx = JobCtx {
        store,
        templates: config.templates.clone(),
        run_ts: chrono::Utc::now(),
        queue_id: None,
        // A job run by hand sends its alerts like a scheduled one.
        notifier: build_notifier(&settings)?,
        llm: build_llm(&settings)?,
        connectors: anomstack::connectors::Connectors::from_settings(&settings),
    };
    let job = args.job.parse::<Job>().map_err(|why| {
        anyhow::anyhow!(
            "{why}: ingest, train, score, alert, change, llmalert, plot, delete, summary or pipeline"
        )
    })?;
    let batch_job = match job {
        Job::Summary => {
            let report =
                jobs::run_summary_limited(&ctx, &config.batches, Trigger::Cli, None).await?;
            print_report(job.as_str(), &report);
            return Ok(ExitCode::SUCCESS);
        }
        Job::Pipeline => None,
        Job::Batch(one) => Some(one),
    };
    let Some(name) = &args.batch else {
        anyhow::bail!("`anomstack run {job}` needs a batch name");
    };
    let batch = find_batch(&config, name)?;
    let results = match batch_job {
        None => jobs::run_pipeline(&ctx, batch, Trigger::Cli).await,
        Some(one) => vec![(
            one,
            jobs::run_recorded(&ctx, batch, one, Trigger::Cli).await,
        )],
    };
    let mut code = ExitCode::SUCCESS;
    for (job, result) in results {
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

async fn backfill_command(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    use anomstack::jobs::{self, JobCtx};
    use anomstack::timestamp::{parse_duration, parse_lenient};

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
    let Some((config, store, settings)) = open_for_jobs(args.metrics_dir).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let batch = find_batch(&config, &args.batch)?;
    let ctx = JobCtx {
        connectors: anomstack::connectors::Connectors::from_settings(&settings),
        ..JobCtx::new(store, config.templates.clone(), to)
    };
    let bar = indicatif::ProgressBar::new(times.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} ingest runs  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = jobs::backfill(&ctx, batch, &times, &|done| bar.set_position(done as u64)).await;
    bar.finish_and_clear();
    match report {
        Ok(report) => {
            print_report("backfill", &report);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("backfill failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn healthcheck_command(args: anomstack::cli::HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.unwrap_or_else(|| {
        let port = std::env::var("ANOMSTACK_PORT")
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or(anomstack::config::DEFAULT_PORT);
        format!("http://127.0.0.1:{port}/health")
    });
    let client = anomstack::http::client(std::time::Duration::from_secs(args.timeout.max(1)))?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response) => {
            eprintln!("{url}: HTTP {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{url}: {}", anomstack::http::without_url(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}
