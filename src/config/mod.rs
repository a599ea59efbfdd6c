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
mod loader;
pub mod mask;
mod original;
mod plan;
mod secret;
mod settings;
mod sources;
mod template;
mod validate;

use std::path::{Path, PathBuf};

pub use admin::{AdminCredentials, AdminSettings};
pub use batch::{
    AlertMethod, BatchJob, BatchSpec, CombinationMethod, DbKind, FreqAgg, JobSchedule, Methods,
    ModelConfig, PreprocessOverride, PreprocessParams, ResampleFreq, Route, ScheduleStatus,
    SqlDialect, ThresholdBounds,
};
pub use channels::{
    ChannelSettings, EmailSettings, LinkSettings, SlackSettings, SmtpTls, WebhookSettings,
};
pub use cron_schedule::CronSchedule;
pub use env::{EnvVars, parse_bool};
pub use error::{ConfigError, ConfigErrors, Origin};
pub use live::{LiveConfig, Reload};
pub use llm::LlmSettings;
pub use loader::{builtin_defaults_batch, env_prefix, load, load_file};
pub use plan::{AlertRule, ModelPlan};
pub use secret::Secret;
pub use settings::{
    DEFAULT_DB_TIMEOUT, DEFAULT_PORT, DEFAULT_SQLITE_PATH, DatabaseLocation, Settings,
};
pub use sources::{
    AzureSettings, BigquerySettings, ClickhouseSettings, DuckdbSettings, GoogleCredentials,
    ObjectStoreSettings, PostgresSettings, S3Settings, SnowflakeAuth, SnowflakeSettings,
    SourceSettings, SslMode, TursoSourceSettings,
};
pub use template::{TIMESTAMP_FORMAT, TemplateError, Templates};
pub use validate::{is_identifier, model_store_unavailable};

/// One enabled batch and the file it came from.
#[derive(Debug, Clone)]
pub struct Batch {
    pub spec: BatchSpec,
    pub file: PathBuf,
    /// What this build or environment lacks for the batch (an engine, a model store, an
    /// engine's credentials): the jobs that need it fail until then. Shown with the batch.
    pub warnings: Vec<String>,
    /// `model_configs`, parsed.
    pub models: Vec<ModelPlan>,
}

impl Batch {
    /// A validated spec's batch; the error says which model config does not parse.
    pub fn new(spec: BatchSpec, file: PathBuf, warnings: Vec<String>) -> Result<Self, String> {
        Ok(Self {
            models: spec.models()?,
            spec,
            file,
            warnings,
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.metric_batch
    }

    /// The folder of the batch file; `ingest_cmd` paths are relative to it.
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }
}

/// A batch file that did not validate, with every problem found. The other batches run.
#[derive(Debug, Clone)]
pub struct InvalidBatch {
    /// `metric_batch`, when the file could be read that far.
    pub name: Option<String>,
    pub file: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl InvalidBatch {
    fn unnamed(file: PathBuf, errors: Vec<ConfigError>) -> Self {
        Self {
            name: None,
            file,
            errors,
        }
    }

    /// The batch name, or the file's name when the file names no batch.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }
}

/// Everything loaded from the metrics directory.
#[derive(Clone)]
pub struct Config {
    /// The batches that validated: these run.
    pub batches: Vec<Batch>,
    /// Batches switched off with `disable_batch`, with their files.
    pub disabled: Vec<(String, PathBuf)>,
    /// Batches that did not validate; they do not run, the others do.
    pub invalid: Vec<InvalidBatch>,
    /// Invalid batches that keep running the last configuration of theirs that validated
    /// (after a reload broke them); they are in `batches` too.
    pub kept_running: Vec<String>,
    /// Problems that belong to no one batch (a defaults file with a bad key).
    pub errors: Vec<ConfigError>,
    /// Things worth telling the operator that do not stop anything.
    pub warnings: Vec<String>,
    /// How files were read where that differs from how they are written (keys of the
    /// original Anomstack read under their names here, its stock queries replaced), said once.
    pub notes: Vec<String>,
    pub templates: Templates,
}

impl Config {
    /// Every problem, batch by batch, each problem that several batches inherit (from a
    /// defaults file or the built-in defaults) once with the batches named.
    pub fn problems(&self) -> ConfigErrors {
        let mut out: Vec<ConfigError> = self.errors.clone();
        let mut inherited: Vec<(ConfigError, Vec<String>)> = Vec::new();
        for batch in &self.invalid {
            for e in &batch.errors {
                let own = match &e.origin {
                    Origin::File(path) => *path == batch.file,
                    Origin::EnvVar(_) => true,
                    Origin::Builtin => false,
                };
                if own {
                    out.push(e.clone());
                } else if let Some((_, names)) = inherited.iter_mut().find(|(x, _)| x == e) {
                    names.push(batch.label());
                } else {
                    inherited.push((e.clone(), vec![batch.label()]));
                }
            }
        }
        for (mut e, names) in inherited {
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            e.reason = format!(
                "{} (inherited by {} {})",
                e.reason,
                if names.len() == 1 { "batch" } else { "batches" },
                names.join(", ")
            );
            out.push(e);
        }
        ConfigErrors(out)
    }

    /// Logs what loading found: notes, warnings, problems, and each batch that does not run.
    pub fn log(&self) {
        for note in &self.notes {
            tracing::info!("{note}");
        }
        for w in &self.warnings {
            tracing::warn!("{w}");
        }
        for e in &self.problems().0 {
            tracing::error!("{e}");
        }
        for batch in &self.invalid {
            let label = batch.label();
            if self.kept_running.contains(&label) {
                tracing::error!(
                    file = %batch.file.display(),
                    "batch `{label}` does not validate; it keeps running its last valid configuration"
                );
            } else {
                tracing::error!(
                    file = %batch.file.display(),
                    "batch `{label}` does not validate; it does not run (the other batches do)"
                );
            }
        }
    }

    /// No batch is invalid and no file has a problem.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.invalid.is_empty()
    }

    /// The problems of one invalid batch, if it is one.
    pub fn invalid_batch(&self, name: &str) -> Option<&InvalidBatch> {
        self.invalid
            .iter()
            .find(|b| b.name.as_deref() == Some(name))
    }

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
        self.dashboard_batch_index(name).map(|i| &self.batches[i])
    }

    /// Where the dashboard batch `name` is in `batches`.
    pub fn dashboard_batch_index(&self, name: &str) -> Option<usize> {
        self.batches
            .iter()
            .position(|b| b.name() == name && !b.spec.disable_dashboard)
    }
}
