//! Where each `db` engine and each model store lives, from the environment (the original's
//! variable names, plus the ones its users asked for: S3 endpoints, Azure, Snowflake key pairs).
//! An engine is configured when its required variables are set; a malformed value (a port, a
//! mode) is an error at startup naming the variable. What is missing for an engine a batch uses
//! is reported when that batch runs, naming the variable to set.

use std::path::PathBuf;

use super::env::{EnvVars, parse_bool};
use super::error::{ConfigError, Origin};
use super::secret::Secret;

/// Every engine's connection settings. `None`: not configured in this environment.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub duckdb: DuckdbSettings,
    pub turso: Option<TursoSourceSettings>,
    pub clickhouse: Option<ClickhouseSettings>,
    pub bigquery: Option<BigquerySettings>,
    pub snowflake: Option<SnowflakeSettings>,
    pub postgres: Option<PostgresSettings>,
    pub redshift: Option<PostgresSettings>,
    /// `ANOMSTACK_SOURCE_QUERY_TIMEOUT_SECONDS`: the longest one query may run on the engine
    /// (the engine is asked to stop it too). The batch's `ingest_timeout_seconds` bounds the
    /// whole ingest anyway.
    pub query_timeout: std::time::Duration,
    /// `ANOMSTACK_SOURCE_MAX_ROWS`: the most rows one query may return (default 1,000,000).
    pub max_rows: usize,
    /// `ANOMSTACK_PYTHON`: the interpreter `ingest_fn` runs with (default `python3`; a
    /// virtualenv's `bin/python` brings its own pandas).
    pub python: String,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            duckdb: DuckdbSettings::default(),
            turso: None,
            clickhouse: None,
            bigquery: None,
            snowflake: None,
            postgres: None,
            redshift: None,
            query_timeout: std::time::Duration::from_secs(DEFAULT_QUERY_TIMEOUT_SECONDS),
            max_rows: DEFAULT_MAX_ROWS,
            python: "python3".to_owned(),
        }
    }
}

const DEFAULT_QUERY_TIMEOUT_SECONDS: u64 = 600;
const DEFAULT_MAX_ROWS: usize = 1_000_000;

impl SourceSettings {
    /// The variable to set before `db` can run, when this environment does not configure it.
    /// The engine that runs `ingest_sql` of a batch with this `db`. `db: duckdb` on a build
    /// without DuckDB runs on the app database (translated; `validate` and the admin batch page
    /// say so), unless `ANOMSTACK_DUCKDB_PATH` names a DuckDB file, whose tables only DuckDB
    /// can read.
    pub fn engine(&self, db: super::DbKind) -> super::DbKind {
        use super::DbKind;
        if db == DbKind::Duckdb && !DbKind::available().contains(&db) && !self.duckdb.configured {
            DbKind::Sqlite
        } else {
            db
        }
    }

    pub fn missing_variable(&self, db: super::DbKind) -> Option<&'static str> {
        use super::DbKind;
        match db {
            DbKind::Sqlite | DbKind::Duckdb => None,
            DbKind::Turso => self.turso.is_none().then_some("ANOMSTACK_TURSO_SOURCE_URL"),
            DbKind::Clickhouse => self
                .clickhouse
                .is_none()
                .then_some("ANOMSTACK_CLICKHOUSE_HOST"),
            DbKind::Bigquery => self
                .bigquery
                .is_none()
                .then_some("ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS"),
            DbKind::Snowflake => self
                .snowflake
                .is_none()
                .then_some("ANOMSTACK_SNOWFLAKE_ACCOUNT"),
            DbKind::Postgres => self.postgres.is_none().then_some("ANOMSTACK_POSTGRES_URL"),
            DbKind::Redshift => self.redshift.is_none().then_some("ANOMSTACK_REDSHIFT_URL"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DuckdbSettings {
    /// `ANOMSTACK_DUCKDB_PATH`: a file (parent folders are created) or `md:<db>` for MotherDuck.
    pub path: String,
    /// `ANOMSTACK_MOTHERDUCK_TOKEN`, for `md:` paths.
    pub motherduck_token: Option<Secret>,
    /// `ANOMSTACK_DUCKDB_PATH` was set: DuckDB SQL is meant for that file, never for another
    /// engine in its place.
    pub configured: bool,
}

impl Default for DuckdbSettings {
    fn default() -> Self {
        Self {
            path: "tmpdata/anomstack-duckdb.db".to_owned(),
            motherduck_token: None,
            configured: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TursoSourceSettings {
    /// `ANOMSTACK_TURSO_SOURCE_URL`, else `ANOMSTACK_TURSO_DATABASE_URL`.
    pub url: String,
    pub token: Secret,
}

#[derive(Debug, Clone)]
pub struct ClickhouseSettings {
    /// `http(s)://host:port` from `ANOMSTACK_CLICKHOUSE_HOST`, `_PORT` (8123) and `_SECURE`.
    pub url: String,
    pub user: String,
    pub password: Secret,
    pub database: String,
}

#[derive(Debug, Clone)]
pub struct BigquerySettings {
    /// The service account's JSON key (`ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS_JSON`, or the
    /// file `ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS` names, read when a batch runs).
    pub credentials: GoogleCredentials,
    /// `ANOMSTACK_GCP_PROJECT_ID`: the project queries run (and are billed) in; the
    /// credentials' own project otherwise.
    pub project_id: Option<String>,
    /// `ANOMSTACK_BIGQUERY_LOCATION` (`US`, `EU`, `europe-west2`...), when datasets are regional.
    pub location: Option<String>,
    /// `ANOMSTACK_BIGQUERY_API_URL`: Google's unless set (a proxy, or a test server).
    pub api_url: String,
}

#[derive(Debug, Clone)]
pub enum GoogleCredentials {
    Inline(Secret),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct SnowflakeSettings {
    /// `ANOMSTACK_SNOWFLAKE_ACCOUNT`: the account identifier (`myorg-myaccount`, or a locator
    /// such as `xy12345.us-east-1`).
    pub account: String,
    pub user: String,
    pub auth: SnowflakeAuth,
    pub warehouse: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
    pub role: Option<String>,
    /// `ANOMSTACK_SNOWFLAKE_API_URL`: `https://<account>.snowflakecomputing.com` unless set.
    pub api_url: String,
}

#[derive(Debug, Clone)]
pub enum SnowflakeAuth {
    /// Key-pair authentication: a PKCS#8 PEM key (`ANOMSTACK_SNOWFLAKE_PRIVATE_KEY`, or the
    /// file `ANOMSTACK_SNOWFLAKE_PRIVATE_KEY_PATH`).
    KeyPair(Secret),
    /// `ANOMSTACK_SNOWFLAKE_TOKEN`: an OAuth access token.
    OAuth(Secret),
    /// `ANOMSTACK_SNOWFLAKE_PASSWORD`: the SQL API takes no passwords, so this must be a
    /// programmatic access token (which Snowflake's connectors also accept as a password).
    ProgrammaticToken(Secret),
}

/// How the connection to Postgres or Redshift is encrypted (libpq's `sslmode` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS or nothing, unverified.
    Require,
    /// TLS with the server's certificate checked against the system's (or `SSLROOTCERT`'s)
    /// authorities and its name. `verify-ca` is treated the same, stricter, way.
    VerifyFull,
}

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub database: String,
    pub sslmode: SslMode,
    /// `…_SSLROOTCERT`: a PEM file of authorities to trust instead of the system's.
    pub root_cert: Option<PathBuf>,
}

/// Credentials for `s3://`, `gs://` and `az://` model paths.
#[derive(Debug, Clone, Default)]
pub struct ObjectStoreSettings {
    pub s3: S3Settings,
    pub gcs_credentials: Option<GoogleCredentials>,
    pub azure: AzureSettings,
}

#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `ANOMSTACK_AWS_ACCESS_KEY_ID` (else `AWS_ACCESS_KEY_ID`, which `fly storage create` sets).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// `ANOMSTACK_AWS_REGION` (else `AWS_REGION`; `us-east-1` when neither is set, or `auto`
    /// with an endpoint, as Tigris and R2 expect).
    pub region: Option<String>,
    /// `ANOMSTACK_AWS_ENDPOINT_URL` (else `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`): an
    /// S3-compatible store (Tigris, R2, MinIO). Requests are path-style when it is set,
    /// unless `ANOMSTACK_AWS_VIRTUAL_HOSTED_STYLE` is true.
    pub endpoint: Option<String>,
    pub virtual_hosted_style: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AzureSettings {
    /// `ANOMSTACK_AZURE_STORAGE_ACCOUNT_NAME`.
    pub account: Option<String>,
    /// `ANOMSTACK_AZURE_STORAGE_ACCOUNT_KEY`, or `ANOMSTACK_AZURE_STORAGE_SAS_TOKEN`.
    pub key: Option<Secret>,
    pub sas_token: Option<Secret>,
    /// `ANOMSTACK_AZURE_STORAGE_ENDPOINT`: the blob endpoint (Azurite, sovereign clouds).
    pub endpoint: Option<String>,
}

fn var_error(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(Origin::EnvVar(name.to_owned()), None, reason.into())
}

fn get<'a>(env: &'a EnvVars, name: &str) -> Option<&'a str> {
    env.get(name).map(str::trim).filter(|v| !v.is_empty())
}

fn owned(env: &EnvVars, name: &str) -> Option<String> {
    get(env, name).map(str::to_owned)
}

fn port(env: &EnvVars, name: &str, default: u16, errors: &mut Vec<ConfigError>) -> u16 {
    match get(env, name) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            errors.push(var_error(
                name,
                format!("expected a port number, got {raw:?}"),
            ));
            default
        }),
    }
}

fn flag(env: &EnvVars, name: &str, errors: &mut Vec<ConfigError>) -> bool {
    match get(env, name) {
        None => false,
        Some(raw) => parse_bool(raw).unwrap_or_else(|| {
            errors.push(var_error(
                name,
                format!("expected true or false, got {raw:?}"),
            ));
            false
        }),
    }
}

fn google_credentials(env: &EnvVars) -> Option<GoogleCredentials> {
    get(env, "ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS_JSON")
        .map(|json| GoogleCredentials::Inline(Secret::new(json)))
        .or_else(|| {
            get(env, "ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS")
                .map(|path| GoogleCredentials::File(PathBuf::from(path)))
        })
}

/// Reads every engine's settings; all problems at once.
pub(super) fn sources(env: &EnvVars) -> Result<SourceSettings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let duckdb = DuckdbSettings {
        path: owned(env, "ANOMSTACK_DUCKDB_PATH").unwrap_or_else(|| DuckdbSettings::default().path),
        motherduck_token: get(env, "ANOMSTACK_MOTHERDUCK_TOKEN").map(Secret::new),
        configured: owned(env, "ANOMSTACK_DUCKDB_PATH").is_some(),
    };
    let turso = owned(env, "ANOMSTACK_TURSO_SOURCE_URL")
        .map(|url| TursoSourceSettings {
            url,
            token: Secret::new(get(env, "ANOMSTACK_TURSO_SOURCE_AUTH_TOKEN").unwrap_or_default()),
        })
        .or_else(|| {
            owned(env, "ANOMSTACK_TURSO_DATABASE_URL").map(|url| TursoSourceSettings {
                url,
                token: Secret::new(get(env, "ANOMSTACK_TURSO_AUTH_TOKEN").unwrap_or_default()),
            })
        });
    let clickhouse = clickhouse(env, &mut errors);
    let bigquery = google_credentials(env).map(|credentials| BigquerySettings {
        credentials,
        project_id: owned(env, "ANOMSTACK_GCP_PROJECT_ID"),
        location: owned(env, "ANOMSTACK_BIGQUERY_LOCATION"),
        api_url: get(env, "ANOMSTACK_BIGQUERY_API_URL")
            .unwrap_or("https://bigquery.googleapis.com")
            .trim_end_matches('/')
            .to_owned(),
    });
    let snowflake = snowflake(env, &mut errors);
    let postgres = postgres_like(
        env,
        "ANOMSTACK_POSTGRES",
        5432,
        SslMode::Prefer,
        &mut errors,
    );
    // Redshift clusters require TLS; their certificates are publicly trusted.
    let redshift = postgres_like(
        env,
        "ANOMSTACK_REDSHIFT",
        5439,
        SslMode::VerifyFull,
        &mut errors,
    );
    let query_timeout = match get(env, "ANOMSTACK_SOURCE_QUERY_TIMEOUT_SECONDS") {
        None => DEFAULT_QUERY_TIMEOUT_SECONDS,
        Some(raw) => raw.parse::<u64>().map(|s| s.max(1)).unwrap_or_else(|_| {
            errors.push(var_error(
                "ANOMSTACK_SOURCE_QUERY_TIMEOUT_SECONDS",
                format!("expected a whole number of seconds, got {raw:?}"),
            ));
            DEFAULT_QUERY_TIMEOUT_SECONDS
        }),
    };
    let max_rows = match get(env, "ANOMSTACK_SOURCE_MAX_ROWS") {
        None => DEFAULT_MAX_ROWS,
        Some(raw) => raw.parse::<usize>().map(|n| n.max(1)).unwrap_or_else(|_| {
            errors.push(var_error(
                "ANOMSTACK_SOURCE_MAX_ROWS",
                format!("expected a whole number of rows, got {raw:?}"),
            ));
            DEFAULT_MAX_ROWS
        }),
    };
    if errors.is_empty() {
        Ok(SourceSettings {
            duckdb,
            turso,
            clickhouse,
            bigquery,
            snowflake,
            postgres,
            redshift,
            query_timeout: std::time::Duration::from_secs(query_timeout),
            max_rows,
            python: owned(env, "ANOMSTACK_PYTHON").unwrap_or_else(|| "python3".to_owned()),
        })
    } else {
        Err(errors)
    }
}

fn clickhouse(env: &EnvVars, errors: &mut Vec<ConfigError>) -> Option<ClickhouseSettings> {
    let host = get(env, "ANOMSTACK_CLICKHOUSE_HOST")?;
    let secure = flag(env, "ANOMSTACK_CLICKHOUSE_SECURE", errors);
    let port = port(
        env,
        "ANOMSTACK_CLICKHOUSE_PORT",
        if secure { 8443 } else { 8123 },
        errors,
    );
    let url = if host.contains("://") {
        host.trim_end_matches('/').to_owned()
    } else {
        format!("{}://{host}:{port}", if secure { "https" } else { "http" })
    };
    Some(ClickhouseSettings {
        url,
        user: owned(env, "ANOMSTACK_CLICKHOUSE_USER").unwrap_or_else(|| "default".to_owned()),
        password: Secret::new(get(env, "ANOMSTACK_CLICKHOUSE_PASSWORD").unwrap_or_default()),
        database: owned(env, "ANOMSTACK_CLICKHOUSE_DATABASE")
            .unwrap_or_else(|| "default".to_owned()),
    })
}

fn snowflake(env: &EnvVars, errors: &mut Vec<ConfigError>) -> Option<SnowflakeSettings> {
    let account = owned(env, "ANOMSTACK_SNOWFLAKE_ACCOUNT")?;
    let Some(user) = owned(env, "ANOMSTACK_SNOWFLAKE_USER") else {
        errors.push(var_error(
            "ANOMSTACK_SNOWFLAKE_USER",
            "is needed with ANOMSTACK_SNOWFLAKE_ACCOUNT",
        ));
        return None;
    };
    let key = get(env, "ANOMSTACK_SNOWFLAKE_PRIVATE_KEY")
        .map(|pem| Ok(pem.replace("\\n", "\n")))
        .or_else(|| {
            get(env, "ANOMSTACK_SNOWFLAKE_PRIVATE_KEY_PATH").map(|path| {
                std::fs::read_to_string(path).map_err(|e| {
                    var_error(
                        "ANOMSTACK_SNOWFLAKE_PRIVATE_KEY_PATH",
                        format!("cannot read {path}: {e}"),
                    )
                })
            })
        });
    let auth = match key {
        Some(Ok(pem)) => SnowflakeAuth::KeyPair(Secret::new(pem)),
        Some(Err(e)) => {
            errors.push(e);
            return None;
        }
        None => {
            if let Some(token) = get(env, "ANOMSTACK_SNOWFLAKE_TOKEN") {
                SnowflakeAuth::OAuth(Secret::new(token))
            } else if let Some(pat) = get(env, "ANOMSTACK_SNOWFLAKE_PASSWORD") {
                SnowflakeAuth::ProgrammaticToken(Secret::new(pat))
            } else {
                errors.push(var_error(
                    "ANOMSTACK_SNOWFLAKE_PRIVATE_KEY_PATH",
                    "Snowflake needs a key pair (ANOMSTACK_SNOWFLAKE_PRIVATE_KEY_PATH or \
                     _PRIVATE_KEY), an OAuth token (ANOMSTACK_SNOWFLAKE_TOKEN) or a programmatic \
                     access token (ANOMSTACK_SNOWFLAKE_PASSWORD)",
                ));
                return None;
            }
        }
    };
    let api_url = get(env, "ANOMSTACK_SNOWFLAKE_API_URL")
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| {
            let host = account
                .trim()
                .trim_end_matches(".snowflakecomputing.com")
                .to_ascii_lowercase()
                .replace('_', "-");
            format!("https://{host}.snowflakecomputing.com")
        });
    Some(SnowflakeSettings {
        account,
        user,
        auth,
        warehouse: owned(env, "ANOMSTACK_SNOWFLAKE_WAREHOUSE"),
        database: owned(env, "ANOMSTACK_SNOWFLAKE_DATABASE"),
        schema: owned(env, "ANOMSTACK_SNOWFLAKE_SCHEMA"),
        role: owned(env, "ANOMSTACK_SNOWFLAKE_ROLE"),
        api_url,
    })
}

/// `<prefix>_URL` (`postgres://user:pass@host:port/db?sslmode=…`), or `<prefix>_HOST` with
/// `_PORT`, `_USER`, `_PASSWORD`, `_DATABASE`; `_SSLMODE` and `_SSLROOTCERT` either way.
fn postgres_like(
    env: &EnvVars,
    prefix: &str,
    default_port: u16,
    default_mode: SslMode,
    errors: &mut Vec<ConfigError>,
) -> Option<PostgresSettings> {
    let var = |k: &str| format!("{prefix}_{k}");
    let mut settings = if let Some(url) = get(env, &var("URL")) {
        match parse_postgres_url(url, default_port) {
            Ok(s) => s,
            Err(reason) => {
                errors.push(var_error(&var("URL"), reason));
                return None;
            }
        }
    } else {
        let host = owned(env, &var("HOST"))?;
        PostgresSettings {
            host,
            port: default_port,
            user: "postgres".to_owned(),
            password: Secret::default(),
            database: String::new(),
            sslmode: default_mode,
            root_cert: None,
        }
    };
    settings.sslmode = default_mode;
    if get(env, &var("URL")).is_some()
        && let Some(mode) = url_param(get(env, &var("URL")).unwrap_or_default(), "sslmode")
    {
        settings.sslmode = parse_sslmode(&mode).unwrap_or_else(|| {
            errors.push(var_error(&var("URL"), sslmode_error(&mode)));
            default_mode
        });
    }
    if get(env, &var("PORT")).is_some() {
        settings.port = port(env, &var("PORT"), default_port, errors);
    }
    if let Some(user) = owned(env, &var("USER")) {
        settings.user = user;
    }
    if let Some(password) = get(env, &var("PASSWORD")) {
        settings.password = Secret::new(password);
    }
    if let Some(db) = owned(env, &var("DATABASE")) {
        settings.database = db;
    }
    if settings.database.is_empty() {
        settings.database = settings.user.clone();
    }
    if let Some(mode) = get(env, &var("SSLMODE")) {
        settings.sslmode = parse_sslmode(mode).unwrap_or_else(|| {
            errors.push(var_error(&var("SSLMODE"), sslmode_error(mode)));
            default_mode
        });
    }
    settings.root_cert = get(env, &var("SSLROOTCERT")).map(PathBuf::from);
    Some(settings)
}

fn sslmode_error(mode: &str) -> String {
    format!("expected disable, prefer, require, verify-ca or verify-full, got {mode:?}")
}

fn parse_sslmode(mode: &str) -> Option<SslMode> {
    match mode.trim().to_ascii_lowercase().as_str() {
        "disable" => Some(SslMode::Disable),
        "allow" | "prefer" => Some(SslMode::Prefer),
        "require" => Some(SslMode::Require),
        "verify-ca" | "verify-full" => Some(SslMode::VerifyFull),
        _ => None,
    }
}

fn url_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Reads `postgres://user:password@host:port/database` (also `postgresql://`, `redshift://`),
/// with percent-encoded user and password.
fn parse_postgres_url(url: &str, default_port: u16) -> Result<PostgresSettings, String> {
    let rest = ["postgresql://", "postgres://", "redshift://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or("expected a postgres://user:password@host:port/database URL")?;
    let rest = rest.split('?').next().unwrap_or_default();
    let (auth, location) = match rest.rsplit_once('@') {
        Some((auth, location)) => (Some(auth), location),
        None => (None, rest),
    };
    let (host_port, database) = location.split_once('/').unwrap_or((location, ""));
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (
            h,
            // Never echo `p`: with an unencoded `@`, `/` or `?` in a password it is part of it.
            p.parse::<u16>().map_err(|_| {
                "the URL's port is not a number (percent-encode @ : / ? # in the user and password)"
                    .to_owned()
            })?,
        ),
        _ => (host_port, default_port),
    };
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    let decode = |s: &str| {
        crate::http::percent_decode(s)
            .ok_or_else(|| "the URL's user or password is badly percent-encoded".to_owned())
    };
    let (user, password) = match auth {
        None => ("postgres".to_owned(), String::new()),
        Some(auth) => match auth.split_once(':') {
            Some((u, p)) => (decode(u)?, decode(p)?),
            None => (decode(auth)?, String::new()),
        },
    };
    Ok(PostgresSettings {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        user,
        password: Secret::new(password),
        database: decode(database)?,
        sslmode: SslMode::Prefer,
        root_cert: None,
    })
}

/// Reads the object-store credentials. Nothing here is required: a store says what it is
/// missing when a batch first uses it.
pub(super) fn object_stores(env: &EnvVars, errors: &mut Vec<ConfigError>) -> ObjectStoreSettings {
    let first = |names: &[&str]| names.iter().find_map(|n| owned(env, n));
    let s3 = S3Settings {
        access_key_id: first(&["ANOMSTACK_AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"]),
        secret_access_key: first(&["ANOMSTACK_AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"])
            .map(Secret::new),
        session_token: first(&["ANOMSTACK_AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN"])
            .map(Secret::new),
        region: first(&["ANOMSTACK_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]),
        endpoint: first(&[
            "ANOMSTACK_AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL",
        ]),
        virtual_hosted_style: flag(env, "ANOMSTACK_AWS_VIRTUAL_HOSTED_STYLE", errors),
    };
    let azure = AzureSettings {
        account: owned(env, "ANOMSTACK_AZURE_STORAGE_ACCOUNT_NAME"),
        key: get(env, "ANOMSTACK_AZURE_STORAGE_ACCOUNT_KEY").map(Secret::new),
        sas_token: get(env, "ANOMSTACK_AZURE_STORAGE_SAS_TOKEN").map(Secret::new),
        endpoint: owned(env, "ANOMSTACK_AZURE_STORAGE_ENDPOINT"),
    };
    ObjectStoreSettings {
        s3,
        gcs_credentials: google_credentials(env),
        azure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn nothing_set_configures_nothing_but_duckdb_defaults() {
        let s = sources(&env(&[])).unwrap();
        assert!(s.clickhouse.is_none() && s.bigquery.is_none() && s.snowflake.is_none());
        assert!(s.postgres.is_none() && s.redshift.is_none() && s.turso.is_none());
        assert_eq!(s.duckdb.path, "tmpdata/anomstack-duckdb.db");
    }

    #[test]
    fn postgres_urls_decode_user_password_port_and_sslmode() {
        let s = sources(&env(&[(
            "ANOMSTACK_POSTGRES_URL",
            "postgres://me%40corp:p%3Ass@db.example.com:6543/sales?sslmode=verify-full",
        )]))
        .unwrap();
        let pg = s.postgres.unwrap();
        assert_eq!(pg.user, "me@corp");
        assert_eq!(pg.password.expose(), "p:ss");
        assert_eq!((pg.host.as_str(), pg.port), ("db.example.com", 6543));
        assert_eq!(pg.database, "sales");
        assert_eq!(pg.sslmode, SslMode::VerifyFull);

        let s = sources(&env(&[
            ("ANOMSTACK_REDSHIFT_HOST", "cluster.redshift.amazonaws.com"),
            ("ANOMSTACK_REDSHIFT_USER", "awsuser"),
        ]))
        .unwrap();
        let rs = s.redshift.unwrap();
        assert_eq!((rs.port, rs.sslmode), (5439, SslMode::VerifyFull));
        assert_eq!(rs.database, "awsuser");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let errors = sources(&env(&[
            ("ANOMSTACK_POSTGRES_HOST", "h"),
            ("ANOMSTACK_POSTGRES_SSLMODE", "sometimes"),
            ("ANOMSTACK_CLICKHOUSE_HOST", "h"),
            ("ANOMSTACK_CLICKHOUSE_PORT", "http"),
            ("ANOMSTACK_SNOWFLAKE_ACCOUNT", "acct"),
        ]))
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        for name in [
            "ANOMSTACK_POSTGRES_SSLMODE",
            "ANOMSTACK_CLICKHOUSE_PORT",
            "ANOMSTACK_SNOWFLAKE_USER",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }

    #[test]
    fn snowflake_prefers_a_key_pair_and_builds_the_account_url() {
        let s = sources(&env(&[
            ("ANOMSTACK_SNOWFLAKE_ACCOUNT", "MyOrg_Acct"),
            ("ANOMSTACK_SNOWFLAKE_USER", "u"),
            ("ANOMSTACK_SNOWFLAKE_PASSWORD", "pat"),
            (
                "ANOMSTACK_SNOWFLAKE_PRIVATE_KEY",
                "-----BEGIN PRIVATE KEY-----\\nabc",
            ),
        ]))
        .unwrap();
        let sf = s.snowflake.unwrap();
        assert!(matches!(&sf.auth, SnowflakeAuth::KeyPair(k) if k.expose().contains('\n')));
        assert_eq!(sf.api_url, "https://myorg-acct.snowflakecomputing.com");
    }

    #[test]
    fn s3_falls_back_to_the_variables_fly_storage_sets() {
        let mut errors = Vec::new();
        let s = object_stores(
            &env(&[
                ("AWS_ACCESS_KEY_ID", "tid"),
                ("AWS_SECRET_ACCESS_KEY", "tsecret"),
                ("AWS_ENDPOINT_URL_S3", "https://fly.storage.tigris.dev"),
                ("ANOMSTACK_AWS_REGION", "auto"),
            ]),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(s.s3.access_key_id.as_deref(), Some("tid"));
        assert_eq!(
            s.s3.endpoint.as_deref(),
            Some("https://fly.storage.tigris.dev")
        );
        assert_eq!(s.s3.region.as_deref(), Some("auto"));
    }
}
