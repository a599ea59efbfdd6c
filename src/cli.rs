//! Command-line arguments, parsed by `main.rs` and turned into library calls by `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "anomstack",
    version = crate::version::LONG_VERSION,
    about = "Painless anomaly detection for your metrics: SQL and YAML in; scores, alerts and a dashboard out.",
    long_about = "Painless anomaly detection for your metrics.\n\nDescribe metric batches as YAML and SQL under a metrics folder (ANOMSTACK_METRICS_DIR, default ./metrics). anomstack ingests them on a schedule, trains detectors, scores new points, alerts people and shows everything on a dashboard. Settings come from ANOMSTACK_* environment variables (and a .env file in the working directory); see .example.env."
)]
pub struct Cli {
    /// Log as human-readable text or as JSON lines.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "ANOMSTACK_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: dashboard, admin panel, API, scheduler and workers (the default).
    Serve(ServeArgs),
    /// Check every batch config and print all problems at once; exits 1 if there are any.
    Validate(ValidateArgs),
    /// Read a password (prompted, or one line on stdin) and print an argon2id hash for
    /// ANOMSTACK_ADMIN_PASSWORD_HASH.
    HashPassword,
    /// Run one job of one batch now, in the foreground, and print its report: ingest, train,
    /// score, alert, change, delete, summary, or `pipeline` (ingest, train, score, alert,
    /// change).
    Run(RunArgs),
    /// Run ingest at past logical times (the template variable `run_ts`), then train and
    /// score, to give a new batch history.
    Backfill(BackfillArgs),
    /// Measure detection speed and memory on synthetic metrics.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Replay CSV series through a batch's detection settings, causally, and write per-row
    /// scores and alerts; with --nab, score them on the Numenta Anomaly Benchmark.
    Backtest(BacktestArgs),
    /// Ask a running server for `/health` and exit 0 if it answers 200 (the Docker
    /// HEALTHCHECK: the image has no curl).
    Healthcheck(HealthcheckArgs),
    /// Serve the MCP (Model Context Protocol) tools on stdin/stdout for an AI assistant on
    /// this machine: batches, anomalies, series, explanations, backtests. Read-only unless
    /// --write. Logs go to stderr.
    Mcp(McpArgs),
}

#[derive(Debug, Default, clap::Args)]
pub struct McpArgs {
    /// Also offer the tools that change data (give_feedback, add_silence).
    #[arg(long)]
    pub write: bool,
    /// Folder of metric batch YAML files [env: ANOMSTACK_METRICS_DIR; default ./metrics].
    #[arg(long)]
    pub metrics_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The URL to ask; default `http://127.0.0.1:<ANOMSTACK_PORT or 8080>/health`.
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// A `timestamp,value` CSV file, or a folder of them (searched recursively). Defaults to
    /// `<nab>/data` with --nab.
    pub input: Option<PathBuf>,
    /// Folder for the output CSVs (`timestamp,value,anomaly_score,alert`), mirroring the input.
    #[arg(long, short)]
    pub output: PathBuf,
    /// A batch YAML whose detection settings to use (models, preprocessing, training window,
    /// alert rule); the shipped defaults without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Retrain the models every this many rows.
    #[arg(long, default_value_t = 100)]
    pub retrain_every: usize,
    /// A NAB-layout folder (`data/<category>/*.csv`, `labels/combined_windows.json`): replay
    /// its data and print the NAB scores of the three profiles.
    #[arg(long)]
    pub nab: Option<PathBuf>,
    /// Files replayed at once [default: the number of CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Answer every alert as a person would, the moment it is sent: 👍 inside a labelled
    /// window, 👎 outside; later points see what the verdicts taught (needs --nab).
    #[arg(long)]
    pub feedback: bool,
}

#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on [env: ANOMSTACK_PORT; default 8080].
    #[arg(long)]
    pub port: Option<u16>,
    /// Folder of metric batch YAML files [env: ANOMSTACK_METRICS_DIR; default ./metrics].
    #[arg(long)]
    pub metrics_dir: Option<PathBuf>,
}

#[derive(Debug, Default, clap::Args)]
pub struct ValidateArgs {
    /// Folder of metric batch YAML files [env: ANOMSTACK_METRICS_DIR; default ./metrics].
    #[arg(long)]
    pub metrics_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Train and score N metrics of P points each on one thread, with the original
    /// Anomstack's models (PCA + KNN) and with the shipped defaults; print CPU seconds,
    /// metrics per second and peak memory.
    Detect(BenchDetectArgs),
    /// Store N metrics of P points each in a fresh database, then run the train, score and
    /// alert jobs on them as `serve` does; print each job's wall time, CPU seconds and peak
    /// memory.
    Pipeline(BenchPipelineArgs),
    /// Fill a folder with B batches of M metrics × P points (database and metrics YAML) for
    /// load tests of the dashboard; print how to serve it.
    Dashboard(BenchDashboardArgs),
    /// Request a running server's pages from many connections for a while; print requests,
    /// errors and latency percentiles per path (exit 1 on any error).
    Load(BenchLoadArgs),
}

#[derive(Debug, clap::Args)]
pub struct BenchLoadArgs {
    /// The server, such as http://127.0.0.1:8080.
    #[arg(long)]
    pub base: String,
    /// A path to request (repeat for several; each connection cycles through them).
    #[arg(long = "path", required = true)]
    pub paths: Vec<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 200)]
    pub connections: usize,
    /// How long, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
}

#[derive(Debug, clap::Args)]
pub struct BenchDashboardArgs {
    /// Number of batches.
    #[arg(long, default_value_t = 50)]
    pub batches: usize,
    /// Metrics per batch.
    #[arg(long, default_value_t = 100)]
    pub metrics: usize,
    /// Points per metric.
    #[arg(long, default_value_t = 1000)]
    pub points: usize,
    /// Seed of the synthetic series.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Folder to fill (created; should be empty).
    #[arg(long)]
    pub dir: std::path::PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct BenchPipelineArgs {
    /// Number of metrics in the batch.
    #[arg(long, default_value_t = 1000)]
    pub metrics: usize,
    /// Points per metric.
    #[arg(long, default_value_t = 1000)]
    pub points: usize,
    /// Seed of the synthetic series.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Which detection settings: original (PCA + KNN) or shipped.
    #[arg(long, default_value = "shipped")]
    pub config: String,
    /// Folder for the metrics folder, database and models, kept afterwards (default: a
    /// temporary folder, removed). With it, `anomstack run <job> bench` can be timed again
    /// with ANOMSTACK_METRICS_DIR=<dir>/metrics ANOMSTACK_SQLITE_PATH=<dir>/app.db.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// A Turso / libSQL server to use instead of a local file (token from
    /// ANOMSTACK_TURSO_AUTH_TOKEN). Its batch `bench` is replaced.
    #[arg(long)]
    pub database_url: Option<String>,
    /// With --database-url: through an embedded replica in the benchmark's folder.
    #[arg(long, requires = "database_url")]
    pub replica: bool,
    /// A libSQL server's admin address (sqld --admin-listen-addr), to print what it counted
    /// for each job: statements, rows read and rows written.
    #[arg(long)]
    pub server_stats: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct BenchDetectArgs {
    /// Number of metrics.
    #[arg(long, default_value_t = 1000)]
    pub metrics: usize,
    /// Points per metric.
    #[arg(long, default_value_t = 1000)]
    pub points: usize,
    /// Seed of the synthetic series.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Which configuration: original, shipped, or both.
    #[arg(long, default_value = "both")]
    pub config: String,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// ingest, train, score, alert, change, llmalert, plot, delete, summary or pipeline.
    pub job: String,
    /// The batch (`metric_batch`); not needed for summary.
    pub batch: Option<String>,
    /// Folder of metric batch YAML files [env: ANOMSTACK_METRICS_DIR; default ./metrics].
    #[arg(long)]
    pub metrics_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The batch (`metric_batch`).
    pub batch: String,
    /// First logical time, `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
    #[arg(long)]
    pub from: String,
    /// Last logical time [default: now].
    #[arg(long)]
    pub to: Option<String>,
    /// Step between runs, such as 5m, 1h, 1d.
    #[arg(long, default_value = "5m")]
    pub every: String,
    /// Folder of metric batch YAML files [env: ANOMSTACK_METRICS_DIR; default ./metrics].
    #[arg(long)]
    pub metrics_dir: Option<PathBuf>,
}
