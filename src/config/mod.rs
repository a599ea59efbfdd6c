//! Configuration: process [`Settings`] from `ANOMSTACK_*` variables, and one typed
//! [`BatchSpec`] per metric batch.
//!
//! A batch's config is merged with figment, later layers winning (maps merge key by key,
//! lists are replaced):
//!
//! 1. the defaults compiled into the binary, then `<metrics>/defaults/defaults.yaml` if present;
//! 2. `ANOMSTACK_TABLE_KEY` (so a batch's own `table_key` still wins over it);
//! 3. the batch YAML;
//! 4. `ANOMSTACK_MODEL_PATH` (overrides the YAML, as in the original) and
//!    `ANOMSTACK_GCP_PROJECT_ID` (only when no file sets `gcp_project_id`);
//! 5. `ANOMSTACK__<BATCH>__<KEY>` overrides, typed by the key's kind.
//!
//! Loading never stops at the first problem: every error names the file or variable, the key
//! and the reason, and [`load`] returns them all.

mod admin;
mod batch;
mod channels;
mod cron_schedule;
mod discover;
mod dotenv;
mod embedded;
mod env;
mod error;
mod keys;
mod layers;
mod live;
mod llm;
pub mod mask;
mod secret;
mod settings;
mod sources;
mod template;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use figment::Figment;

pub use admin::{AdminCredentials, AdminSettings};
pub use batch::{
    AlertMethod, BatchJob, BatchSpec, CombinationMethod, DbKind, FreqAgg, JobSchedule, Methods,
    ModelConfig, ModelPlan, PreprocessOverride, PreprocessParams, ResampleFreq, Route,
    ScheduleStatus, ThresholdBounds,
};
pub use channels::{ChannelSettings, EmailSettings, SlackSettings, SmtpTls, WebhookSettings};
pub use cron_schedule::CronSchedule;
pub use env::{EnvVars, parse_bool};
pub use error::{ConfigError, ConfigErrors, Origin};
pub use live::{LiveConfig, Reload};
pub use llm::LlmSettings;
pub use secret::Secret;
pub use settings::{DEFAULT_PORT, DEFAULT_SQLITE_PATH, DatabaseLocation, Settings};
pub use sources::{
    AzureSettings, BigquerySettings, ClickhouseSettings, DuckdbSettings, GoogleCredentials,
    ObjectStoreSettings, PostgresSettings, S3Settings, SnowflakeAuth, SnowflakeSettings,
    SourceSettings, SslMode, TursoSourceSettings,
};
pub use template::{TIMESTAMP_FORMAT, TemplateError, Templates};
pub use validate::is_identifier;

use discover::SourceFile;
use layers::{Layer, origin_of};

/// One enabled batch and the file it came from.
#[derive(Debug, Clone)]
pub struct Batch {
    pub spec: BatchSpec,
    pub file: PathBuf,
}

impl Batch {
    pub fn name(&self) -> &str {
        &self.spec.metric_batch
    }

    /// The folder of the batch file; `ingest_cmd` paths are relative to it.
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }
}

/// Everything loaded from the metrics directory.
#[derive(Clone)]
pub struct Config {
    pub batches: Vec<Batch>,
    /// Batches switched off with `disable_batch`, with their files.
    pub disabled: Vec<(String, PathBuf)>,
    /// Things worth telling the operator that do not stop the app.
    pub warnings: Vec<String>,
    pub templates: Templates,
}

impl Config {
    pub fn batch(&self, name: &str) -> Option<&Batch> {
        self.batches.iter().find(|b| b.name() == name)
    }

    /// The batches the dashboard and API show (not `disable_dashboard`), by name.
    pub fn dashboard_batches(&self) -> Vec<&Batch> {
        let mut out: Vec<&Batch> = self
            .batches
            .iter()
            .filter(|b| !b.spec.disable_dashboard)
            .collect();
        out.sort_by(|a, b| a.name().cmp(b.name()));
        out
    }

    /// A batch the dashboard shows.
    pub fn dashboard_batch(&self, name: &str) -> Option<&Batch> {
        self.batch(name).filter(|b| !b.spec.disable_dashboard)
    }
}

/// Loads and validates every batch under `settings.metrics_dir`.
pub fn load(settings: &Settings, env: &EnvVars) -> Result<Config, ConfigErrors> {
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut warnings = Vec::new();
    let templates = Templates::new(&settings.metrics_dir);

    let mut base_layers = Vec::new();
    match embedded::get(embedded::DEFAULTS_YAML)
        .ok_or_else(|| vec![ConfigError::new(Origin::Builtin, None, "missing")])
        .and_then(|text| discover::parse_text(Origin::Builtin, text, false))
    {
        Ok(file) => {
            errors.extend(file.errors);
            base_layers.push(file.layer);
        }
        Err(e) => errors.extend(e),
    }
    let user_defaults = settings.metrics_dir.join(embedded::DEFAULTS_YAML);
    if user_defaults.exists() {
        match discover::read_file(&user_defaults, false) {
            Ok(file) => {
                errors.extend(file.errors);
                base_layers.push(file.layer);
            }
            Err(e) => errors.extend(e),
        }
    }

    let files = match discover::batch_files(&settings.metrics_dir, settings.ignore_examples) {
        Ok(files) => files,
        Err(e) => return Err(ConfigErrors(merge_errors(errors, vec![e]))),
    };

    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut sources: Vec<(PathBuf, SourceFile)> = Vec::new();
    for path in files {
        match discover::read_file(&path, true) {
            Ok(mut file) => {
                errors.append(&mut file.errors);
                let Some(name) = file.batch_name.clone() else {
                    continue;
                };
                if let Some(first) = seen.get(&name) {
                    errors.push(ConfigError::new(
                        Origin::File(path.clone()),
                        Some("metric_batch"),
                        format!(
                            "batch `{name}` is already defined in {}; batch names must be unique",
                            first.display()
                        ),
                    ));
                    continue;
                }
                if let Some((other, _)) = seen
                    .iter()
                    .find(|(other, _)| env_prefix(other) == env_prefix(&name))
                {
                    errors.push(ConfigError::new(
                        Origin::File(path.clone()),
                        Some("metric_batch"),
                        format!(
                            "batches `{other}` and `{name}` would share the environment prefix {}; rename one",
                            env_prefix(&name)
                        ),
                    ));
                    continue;
                }
                seen.insert(name, path.clone());
                sources.push((path, file));
            }
            Err(e) => errors.extend(e),
        }
    }

    let overrides = batch_overrides(env, &seen, &mut errors, &mut warnings);

    let mut batches = Vec::new();
    let mut disabled = Vec::new();
    for (path, file) in sources {
        let name = file.batch_name.clone().unwrap_or_default();
        for key in &file.ignored_keys {
            warnings.push(format!(
                "{}: key `{key}` is a hook of the original Anomstack that has no effect here",
                path.display()
            ));
        }
        let figment = batch_figment(
            &base_layers,
            file.layer,
            env,
            overrides.get(&name).map(Vec::as_slice).unwrap_or_default(),
        );
        let is_disabled = figment
            .extract_inner::<bool>("disable_batch")
            .unwrap_or(false);
        let batch_errors = match figment.extract::<BatchSpec>() {
            Ok(spec) => {
                let problems = check_batch(&spec, &figment, &path, &templates);
                if problems.is_empty() {
                    if is_disabled {
                        disabled.push((name, path));
                    } else {
                        batches.push(Batch { spec, file: path });
                    }
                    continue;
                }
                problems
            }
            Err(e) => e
                .into_iter()
                .map(|e| {
                    let mut err = figment_error(&e);
                    if err.origin == Origin::Builtin {
                        err.origin = Origin::File(path.clone());
                    }
                    err
                })
                .collect(),
        };
        if is_disabled {
            warnings.extend(
                batch_errors
                    .iter()
                    .map(|e| format!("{e} (ignored: the batch is disabled)")),
            );
            disabled.push((name, path));
        } else {
            errors.extend(batch_errors);
        }
    }

    for batch in &batches {
        if batch.spec.ingest_sql.is_some()
            && !batch.spec.disable_ingest
            && let Some(var) = settings.sources.missing_variable(batch.spec.db)
        {
            warnings.push(format!(
                "{}: db `{}` is not configured in this environment: set {var} (README, \"Data sources\"); until then the batch's ingest fails",
                batch.file.display(),
                batch.spec.db.as_str()
            ));
        }
    }

    if errors.is_empty() {
        Ok(Config {
            batches,
            disabled,
            warnings,
            templates,
        })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The built-in defaults as a batch named `name` (no ingest needed).
pub fn builtin_defaults_batch(name: &str) -> Result<BatchSpec, ConfigErrors> {
    let base = embedded::get(embedded::DEFAULTS_YAML)
        .ok_or_else(|| vec![ConfigError::new(Origin::Builtin, None, "missing")])
        .and_then(|text| discover::parse_text(Origin::Builtin, text, false))
        .map_err(ConfigErrors)?;
    let named = Layer::single(
        Origin::Builtin,
        "metric_batch",
        figment::value::Value::from(name.to_owned()),
    );
    batch_figment(&[base.layer], named, &EnvVars::default(), &[])
        .extract()
        .map_err(|e| ConfigErrors(e.into_iter().map(|e| figment_error(&e)).collect()))
}

/// Loads one batch file on top of the built-in defaults, without the environment: for tools
/// such as `anomstack backtest --config` that take a batch's settings from a file alone.
/// Includes resolve relative to the file's folder.
pub fn load_file(path: &Path) -> Result<Batch, ConfigErrors> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let templates = Templates::new(&dir);
    let base = embedded::get(embedded::DEFAULTS_YAML)
        .ok_or_else(|| vec![ConfigError::new(Origin::Builtin, None, "missing")])
        .and_then(|text| discover::parse_text(Origin::Builtin, text, false))
        .map_err(ConfigErrors)?;
    let file = discover::read_file(path, true).map_err(ConfigErrors)?;
    if !file.errors.is_empty() {
        return Err(ConfigErrors(file.errors));
    }
    let figment = batch_figment(&[base.layer], file.layer, &EnvVars::default(), &[]);
    let spec: BatchSpec = figment
        .extract()
        .map_err(|e| ConfigErrors(e.into_iter().map(|e| figment_error(&e)).collect()))?;
    let problems = check_batch(&spec, &figment, path, &templates);
    if problems.is_empty() {
        Ok(Batch {
            spec,
            file: path.to_path_buf(),
        })
    } else {
        Err(ConfigErrors(problems))
    }
}

fn merge_errors(mut a: Vec<ConfigError>, b: Vec<ConfigError>) -> Vec<ConfigError> {
    a.extend(b);
    a
}

fn batch_figment(
    base: &[Layer],
    batch: Layer,
    env: &EnvVars,
    overrides: &[(String, String, figment::value::Value)],
) -> Figment {
    let mut fig = Figment::new();
    for layer in base {
        fig = fig.merge(Layer {
            origin: layer.origin.clone(),
            dict: layer.dict.clone(),
        });
    }
    if let Some(table) = env.get("ANOMSTACK_TABLE_KEY") {
        fig = fig.merge(global_layer("ANOMSTACK_TABLE_KEY", "table_key", table));
    }
    fig = fig.merge(batch);
    if let Some(path) = env.get("ANOMSTACK_MODEL_PATH") {
        fig = fig.merge(global_layer("ANOMSTACK_MODEL_PATH", "model_path", path));
    }
    if let Some(project) = env.get("ANOMSTACK_GCP_PROJECT_ID") {
        fig = fig.join(global_layer(
            "ANOMSTACK_GCP_PROJECT_ID",
            "gcp_project_id",
            project,
        ));
    }
    for (var, path, value) in overrides {
        fig = fig.merge(Layer::single(
            Origin::EnvVar(var.clone()),
            path,
            value.clone(),
        ));
    }
    fig
}

fn global_layer(var: &str, key: &str, value: &str) -> Layer {
    Layer::single(
        Origin::EnvVar(var.to_owned()),
        key,
        figment::value::Value::from(value.trim().to_owned()),
    )
}

/// `ANOMSTACK__<BATCH>__<KEY>` variables, typed and grouped by batch name.
fn batch_overrides(
    env: &EnvVars,
    batches: &BTreeMap<String, PathBuf>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, Vec<(String, String, figment::value::Value)>> {
    let by_prefix: Vec<(String, &String)> = batches
        .keys()
        .map(|name| (env_prefix(name), name))
        .collect();
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for (var, raw) in env.iter() {
        let upper = var.to_ascii_uppercase();
        if !upper.starts_with("ANOMSTACK__") || raw.trim().is_empty() {
            continue;
        }
        // The longest matching prefix wins, so batch `a` does not capture `a_b`'s variables.
        let Some((prefix, name)) = by_prefix
            .iter()
            .filter(|(p, _)| upper.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
        else {
            warnings.push(format!(
                "environment variable {var} matches no metric batch; it is ignored"
            ));
            continue;
        };
        let path = var[prefix.len()..].to_ascii_lowercase().replace("__", ".");
        let origin = Origin::EnvVar(var.to_owned());
        let Some(key) = keys::find(&path) else {
            let top = path.split('.').next().unwrap_or(&path);
            let hint = match keys::find(top) {
                Some(_) => {
                    let nested: Vec<&str> = keys::nested_of(top).collect();
                    if nested.is_empty() {
                        format!("; `{top}` has no keys that can be set one by one")
                    } else {
                        format!("; `{top}` accepts {}", nested.join(", "))
                    }
                }
                None => keys::suggest(top)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default(),
            };
            errors.push(ConfigError::new(
                origin,
                Some(&path),
                format!("unknown key{hint}"),
            ));
            continue;
        };
        match layers::coerce(raw, key.kind) {
            Ok(value) => {
                out.entry((*name).clone())
                    .or_default()
                    .push((var.to_owned(), path, value))
            }
            Err(reason) => errors.push(ConfigError::new(origin, Some(&path), reason)),
        }
    }
    out
}

/// `ANOMSTACK__MY_BATCH__` for batch `my-batch`, as the original spells it.
pub fn env_prefix(batch: &str) -> String {
    format!(
        "ANOMSTACK__{}__",
        batch.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Semantic rules and templates, each problem attributed to whoever set the key last.
fn check_batch(
    spec: &BatchSpec,
    figment: &Figment,
    path: &Path,
    templates: &Templates,
) -> Vec<ConfigError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // A problem with a value the built-in defaults supply (such as no ingest query) is the
    // batch file's to fix.
    let at = |key: &str, reason: String| {
        let origin = std::iter::once(key)
            .chain(validate::related_keys(key).iter().copied())
            .map(|k| origin_of(figment.find_metadata(k)))
            .find(|o| *o != Origin::Builtin)
            .unwrap_or_else(|| Origin::File(path.to_path_buf()));
        ConfigError::new(origin, Some(key), reason)
    };
    let mut out: Vec<ConfigError> = validate::check(spec, dir)
        .into_iter()
        .map(|(key, reason)| at(key, reason))
        .collect();

    // Render every template once, so a missing include or a typo in a variable fails now
    // rather than at 3 a.m. in a job.
    let when = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    let mut sql: Vec<(&str, &str)> = vec![
        ("train_sql", &spec.train_sql),
        ("score_sql", &spec.score_sql),
        ("alert_sql", &spec.alert_sql),
        ("change_sql", &spec.change_sql),
        ("llmalert_sql", &spec.llmalert_sql),
        ("plot_sql", &spec.plot_sql),
        ("delete_sql", &spec.delete_sql),
        ("summary_sql", &spec.summary_sql),
    ];
    if let Some(ingest) = &spec.ingest_sql {
        sql.push(("ingest_sql", ingest));
    }
    if let Some(ingest) = &spec.ingest_fn {
        sql.push(("ingest_fn", ingest));
    }
    if let Some(when) = when {
        for (key, source) in sql {
            if let Err(e) = templates.render(source, spec, when) {
                out.push(at(key, format!("template error: {e}")));
            }
        }
    }
    out
}

/// A figment error as one of ours: origin from its metadata, dotted key, plain-words reason.
fn figment_error(e: &figment::Error) -> ConfigError {
    use figment::error::Kind;
    let key = e.path.join(".");
    let reason = match &e.kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {}, got {actual}", plain_type(expected))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value {actual}: expected {}", plain_type(expected))
        }
        Kind::UnknownVariant(actual, expected) => format!(
            "unknown value `{actual}`; expected one of {}",
            expected.join(", ")
        ),
        Kind::UnknownField(field, expected) => {
            let close = expected
                .iter()
                .map(|k| (strsim::damerau_levenshtein(field, k), *k))
                .filter(|(d, _)| *d <= 2)
                .min_by_key(|(d, _)| *d)
                .map(|(_, k)| format!("; did you mean `{k}`?"))
                .unwrap_or_else(|| format!("; expected one of {}", expected.join(", ")));
            format!("unknown key `{field}`{close}")
        }
        Kind::MissingField(field) => format!("missing required key `{field}`"),
        Kind::Message(m) => m.clone(),
        other => other.to_string(),
    };
    ConfigError {
        origin: origin_of(e.metadata.as_ref()),
        key: (!key.is_empty()).then_some(key),
        reason,
    }
}

fn plain_type(expected: &str) -> String {
    match expected {
        "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i32" | "i64" => "a whole number".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a string" => "text".into(),
        other => other.to_owned(),
    }
}
