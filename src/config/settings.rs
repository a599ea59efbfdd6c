//! Process-wide settings from `ANOMSTACK_*` environment variables: where the metrics folder and
//! the app database are, and where to listen. Batch settings live in [`super::BatchSpec`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::admin::{self, AdminSettings};
use super::channels::{self, ChannelSettings};
use super::env::{EnvVars, parse_bool};
use super::error::{ConfigError, ConfigErrors, Origin};
use super::llm::{self, LlmSettings};
use super::secret::Secret;
use super::sources::{self, ObjectStoreSettings, SourceSettings};

pub const DEFAULT_SQLITE_PATH: &str = "./tmpdata/anomstack.db";
/// How long a statement to a database over the network may take by default
/// (`ANOMSTACK_DB_TIMEOUT_SECONDS`).
pub const DEFAULT_DB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
pub const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `ANOMSTACK_METRICS_DIR`: the folder of batch YAML files.
    pub metrics_dir: PathBuf,
    /// `ANOMSTACK_IGNORE_EXAMPLES`: skip `<metrics_dir>/examples/`.
    pub ignore_examples: bool,
    /// `ANOMSTACK_HOST` and `ANOMSTACK_PORT`.
    pub listen: SocketAddr,
    pub database: DatabaseLocation,
    /// `ANOMSTACK_KILL_RUN_AFTER_MINUTES`: a job running longer is cancelled (default 15).
    pub kill_run_after: std::time::Duration,
    /// `ANOMSTACK_WORKER_CONCURRENCY`: jobs one process runs at once (default 2).
    pub worker_concurrency: usize,
    /// `ANOMSTACK_SHUTDOWN_GRACE_SECONDS`: on SIGTERM, how long running jobs may finish
    /// before they are requeued (default 20; keep it below Fly's kill timeout).
    pub shutdown_grace: std::time::Duration,
    /// `ANOMSTACK_SCHEDULER`: whether this process enqueues scheduled jobs (default true).
    pub scheduler: bool,
    /// `ANOMSTACK_WORKERS`: whether this process runs queued jobs (default true).
    pub workers: bool,
    /// `ANOMSTACK_WORKER_STALE_SECONDS`: a worker silent this long is presumed dead and its
    /// jobs are requeued (default 30).
    pub worker_stale: std::time::Duration,
    /// `ANOMSTACK_CONFIG_POLL_SECONDS`: how often `serve` looks for changes under the metrics
    /// folder and reloads the configuration (default 5; 0 turns it off).
    pub config_poll: Option<std::time::Duration>,
    /// `ANOMSTACK_HISTORY_DAYS`: run history, finished queue entries and the notification log
    /// are kept this long (default 30; 0 keeps them forever).
    pub history: Option<std::time::Duration>,
    /// `ANOMSTACK_SEED_HOURS`: at start, batches without any row get this many hours of
    /// history (ingest every 10 minutes, then train and score); 0 (default) seeds nothing.
    pub seed_hours: u32,
    /// `ANOMSTACK_TURSO_SYNC_SECONDS`: how often an embedded replica pulls from its primary.
    pub replica_sync: std::time::Duration,
    /// `ANOMSTACK_DB_TIMEOUT_SECONDS`: how long a statement to a Turso database (remote, or
    /// a replica's write) may take before it counts as unreachable (default 30).
    pub db_timeout: std::time::Duration,
    /// `ANOMSTACK_PUBLIC_FEEDBACK`: anyone may give 👍/👎 feedback on anomalies, rate limited
    /// per client (default false: an admin session is needed).
    pub public_feedback: bool,
    /// `ANOMSTACK_ADMIN_*`, `ANOMSTACK_COOKIE_SECURE`, `ANOMSTACK_SESSION_*`.
    pub admin: AdminSettings,
    /// `ANOMSTACK_ALERT_EMAIL_*`, `ANOMSTACK_SLACK_*`, `ANOMSTACK_WEBHOOK_*`,
    /// `ANOMSTACK_FAILURE_EMAIL_*`.
    pub channels: ChannelSettings,
    /// `OPENAI_*`, `ANOMSTACK_LLM_*`: the LLM for `llmalert`, if one is configured.
    pub llm: Option<LlmSettings>,
    /// Where `db` engines other than the app database are (`ANOMSTACK_DUCKDB_*`,
    /// `_CLICKHOUSE_*`, `_POSTGRES_*`, `_SNOWFLAKE_*`, BigQuery's credentials...).
    pub sources: SourceSettings,
    /// Credentials for `s3://`, `gs://` and `az://` model paths.
    pub object_stores: ObjectStoreSettings,
}

/// Where the app database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A local libsql/SQLite file (`ANOMSTACK_SQLITE_PATH`).
    Local { path: PathBuf },
    /// A Turso (or any Hrana v3) database over HTTP.
    Remote { url: String, token: Secret },
    /// A local file kept in sync with a Turso database (`ANOMSTACK_TURSO_REPLICA_PATH`).
    Replica {
        path: PathBuf,
        url: String,
        token: Secret,
    },
}

impl Settings {
    pub fn from_env(env: &EnvVars) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let metrics_dir = PathBuf::from(env.get("ANOMSTACK_METRICS_DIR").unwrap_or("./metrics"));
        let ignore_examples = read_bool(env, "ANOMSTACK_IGNORE_EXAMPLES", false, &mut errors);

        let host = match env.get("ANOMSTACK_HOST") {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
                errors.push(var_error(
                    "ANOMSTACK_HOST",
                    format!("expected an IP address such as 0.0.0.0 or 127.0.0.1, got {raw:?}"),
                ));
                IpAddr::from([0, 0, 0, 0])
            }),
        };
        let port = match env.get("ANOMSTACK_PORT") {
            None => DEFAULT_PORT,
            Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
                errors.push(var_error(
                    "ANOMSTACK_PORT",
                    format!("expected a port number (0-65535), got {raw:?}"),
                ));
                DEFAULT_PORT
            }),
        };

        let database = database_location(env);
        let kill_minutes = read_number(env, "ANOMSTACK_KILL_RUN_AFTER_MINUTES", 15, &mut errors);
        let concurrency = read_number(env, "ANOMSTACK_WORKER_CONCURRENCY", 2, &mut errors);
        let grace = read_number(env, "ANOMSTACK_SHUTDOWN_GRACE_SECONDS", 20, &mut errors);
        let scheduler = read_bool(env, "ANOMSTACK_SCHEDULER", true, &mut errors);
        let workers = read_bool(env, "ANOMSTACK_WORKERS", true, &mut errors);
        let stale = read_number(env, "ANOMSTACK_WORKER_STALE_SECONDS", 30, &mut errors);
        let poll = read_number(env, "ANOMSTACK_CONFIG_POLL_SECONDS", 5, &mut errors);
        let history_days = read_number(env, "ANOMSTACK_HISTORY_DAYS", 30, &mut errors);
        let seed_hours = read_number(env, "ANOMSTACK_SEED_HOURS", 0, &mut errors);
        let sync_seconds = read_number(env, "ANOMSTACK_TURSO_SYNC_SECONDS", 15, &mut errors);
        let db_timeout = read_number(
            env,
            "ANOMSTACK_DB_TIMEOUT_SECONDS",
            DEFAULT_DB_TIMEOUT.as_secs(),
            &mut errors,
        );
        let public_feedback = read_bool(env, "ANOMSTACK_PUBLIC_FEEDBACK", false, &mut errors);
        let credentials = admin::credentials(env).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let cookie_secure = env
            .get("ANOMSTACK_COOKIE_SECURE")
            .map(|_| read_bool(env, "ANOMSTACK_COOKIE_SECURE", false, &mut errors));
        let channels = channels::channels(env).unwrap_or_else(|mut e| {
            errors.append(&mut e);
            ChannelSettings::default()
        });
        let llm = llm::llm(env).unwrap_or_else(|mut e| {
            errors.append(&mut e);
            None
        });
        let sources = sources::sources(env).unwrap_or_else(|mut e| {
            errors.append(&mut e);
            SourceSettings::default()
        });
        let object_stores = sources::object_stores(env, &mut errors);
        let idle = read_number(env, "ANOMSTACK_SESSION_IDLE_MINUTES", 120, &mut errors);
        let max = read_number(env, "ANOMSTACK_SESSION_MAX_HOURS", 24, &mut errors);
        if errors.is_empty() {
            Ok(Settings {
                metrics_dir,
                ignore_examples,
                listen: SocketAddr::new(host, port),
                database,
                kill_run_after: std::time::Duration::from_secs(kill_minutes.max(1) * 60),
                worker_concurrency: concurrency.max(1) as usize,
                shutdown_grace: std::time::Duration::from_secs(grace),
                scheduler,
                workers,
                worker_stale: std::time::Duration::from_secs(stale.max(1)),
                // A week at most: seeding replays the ingest once per 10 minutes.
                seed_hours: seed_hours.min(168) as u32,
                replica_sync: std::time::Duration::from_secs(sync_seconds.clamp(1, 86_400)),
                db_timeout: std::time::Duration::from_secs(db_timeout.clamp(1, 86_400)),
                config_poll: (poll > 0).then(|| std::time::Duration::from_secs(poll)),
                // A century at most: longer is "forever", and overflows dates.
                history: (history_days > 0)
                    .then(|| std::time::Duration::from_secs(history_days.min(36_500) * 86_400)),
                public_feedback,
                admin: AdminSettings {
                    credentials,
                    cookie_secure,
                    // At most a year: longer is no session policy, and overflows dates.
                    session_idle: std::time::Duration::from_secs(idle.clamp(1, 525_600) * 60),
                    session_max: std::time::Duration::from_secs(max.clamp(1, 8_760) * 3600),
                },
                channels,
                llm,
                sources,
                object_stores,
            })
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

fn database_location(env: &EnvVars) -> DatabaseLocation {
    let token = Secret::new(env.get("ANOMSTACK_TURSO_AUTH_TOKEN").unwrap_or_default());
    let sqlite_path = env.get("ANOMSTACK_SQLITE_PATH");
    // The original took a Turso URL in ANOMSTACK_SQLITE_PATH; keep accepting it there.
    let url = env
        .get("ANOMSTACK_TURSO_DATABASE_URL")
        .map(str::to_owned)
        .or_else(|| sqlite_path.filter(|p| is_remote_url(p)).map(str::to_owned));
    match (url, env.get("ANOMSTACK_TURSO_REPLICA_PATH")) {
        (Some(url), Some(path)) => DatabaseLocation::Replica {
            path: PathBuf::from(path),
            url,
            token,
        },
        (Some(url), None) => DatabaseLocation::Remote { url, token },
        (None, _) => DatabaseLocation::Local {
            path: PathBuf::from(
                sqlite_path
                    .filter(|p| !is_remote_url(p))
                    .unwrap_or(DEFAULT_SQLITE_PATH),
            ),
        },
    }
}

fn is_remote_url(path: &str) -> bool {
    ["libsql://", "https://", "http://", "wss://", "ws://"]
        .iter()
        .any(|scheme| path.starts_with(scheme))
        || path.trim_end_matches('/').ends_with(".turso.io")
}

fn read_bool(env: &EnvVars, name: &str, default: bool, errors: &mut Vec<ConfigError>) -> bool {
    match env.get(name) {
        None => default,
        Some(raw) => parse_bool(raw).unwrap_or_else(|| {
            errors.push(var_error(
                name,
                format!("expected true/false (or yes/no, 1/0), got {raw:?}"),
            ));
            default
        }),
    }
}

fn read_number(env: &EnvVars, name: &str, default: u64, errors: &mut Vec<ConfigError>) -> u64 {
    match env.get(name) {
        None => default,
        Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
            errors.push(var_error(
                name,
                format!("expected a whole number, got {raw:?}"),
            ));
            default
        }),
    }
}

fn var_error(name: &str, reason: String) -> ConfigError {
    ConfigError::new(Origin::EnvVar(name.to_owned()), None, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
        Settings::from_env(&EnvVars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_are_a_local_file_and_port_8080() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen.port(), 8080);
        assert_eq!(s.metrics_dir, PathBuf::from("./metrics"));
        assert_eq!(
            s.database,
            DatabaseLocation::Local {
                path: PathBuf::from(DEFAULT_SQLITE_PATH)
            }
        );
    }

    #[test]
    fn turso_url_selects_remote_and_a_replica_path_selects_a_replica() {
        let s = settings(&[
            ("ANOMSTACK_TURSO_DATABASE_URL", "libsql://db.turso.io"),
            ("ANOMSTACK_TURSO_AUTH_TOKEN", "tok"),
        ])
        .unwrap();
        assert!(
            matches!(s.database, DatabaseLocation::Remote { ref url, .. } if url == "libsql://db.turso.io")
        );
        let s = settings(&[
            ("ANOMSTACK_TURSO_DATABASE_URL", "libsql://db.turso.io"),
            ("ANOMSTACK_TURSO_REPLICA_PATH", "/data/replica.db"),
        ])
        .unwrap();
        assert!(matches!(s.database, DatabaseLocation::Replica { .. }));
    }

    #[test]
    fn a_turso_url_in_the_sqlite_path_is_understood_as_remote() {
        let s = settings(&[("ANOMSTACK_SQLITE_PATH", "libsql://x.turso.io")]).unwrap();
        assert!(matches!(s.database, DatabaseLocation::Remote { .. }));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = settings(&[
            ("ANOMSTACK_PORT", "eighty"),
            ("ANOMSTACK_IGNORE_EXAMPLES", "perhaps"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("environment variable ANOMSTACK_PORT: expected a port number"),
            "{text}"
        );
        assert!(
            text.contains("environment variable ANOMSTACK_IGNORE_EXAMPLES"),
            "{text}"
        );
    }
}
