//! The configuration the running app uses, replaced whole when the metrics folder changes (or
//! an operator asks): the scheduler, workers and pages take a snapshot when they need one, so
//! a job runs start to finish on one configuration. A batch that stops validating is reported
//! and keeps running its last valid configuration while the others take their new one; a
//! metrics folder that cannot be read at all keeps the whole last configuration running.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::{Config, ConfigErrors, EnvVars, Settings, load};

/// The current configuration and how to load the next one.
pub struct LiveConfig {
    tx: watch::Sender<Arc<Config>>,
    /// Where the configuration comes from; `None` for a fixed one.
    source: Option<(Settings, EnvVars)>,
    /// What the metrics folder looked like when the current configuration was loaded.
    seen: Mutex<Fingerprint>,
}

/// Paths, sizes and modification times of every file under the metrics folder.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// What a reload did.
#[derive(Debug)]
pub enum Reload {
    /// The new configuration is live: its valid batches run; `problems` are those of the
    /// batches (and files) that did not validate, which do not.
    Applied {
        batches: usize,
        problems: ConfigErrors,
    },
    /// The folder did not change since the last load.
    Unchanged,
}

impl LiveConfig {
    /// A configuration loaded from `settings.metrics_dir`, reloaded from there.
    pub fn new(config: Config, settings: Settings, env: EnvVars) -> Arc<Self> {
        let seen = fingerprint(&settings.metrics_dir);
        let (tx, _) = watch::channel(Arc::new(config));
        Arc::new(Self {
            tx,
            source: Some((settings, env)),
            seen: Mutex::new(seen),
        })
    }

    /// A configuration that never changes (one-off commands, tests).
    pub fn fixed(config: Config) -> Arc<Self> {
        let (tx, _) = watch::channel(Arc::new(config));
        Arc::new(Self {
            tx,
            source: None,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// The environment the configuration was loaded with (`None` for a fixed one).
    pub fn env(&self) -> Option<&EnvVars> {
        self.source.as_ref().map(|(_, env)| env)
    }

    pub fn current(&self) -> Arc<Config> {
        self.tx.borrow().clone()
    }

    /// Resolves with each new configuration.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.tx.subscribe()
    }

    /// Loads the metrics folder again and makes it live if it validates; on errors the
    /// current configuration stays and the errors are returned.
    pub fn reload(&self) -> Result<Reload, ConfigErrors> {
        let Some((settings, env)) = &self.source else {
            return Ok(Reload::Unchanged);
        };
        let before = fingerprint(&settings.metrics_dir);
        let mut config = load(settings, env)?;
        // A batch an edit broke keeps running its last valid configuration (and is shown as
        // invalid) rather than stopping its alerts over a typo.
        let previous = self.current();
        for invalid in &config.invalid {
            let Some(name) = invalid.name.as_deref() else {
                continue;
            };
            if config.batch(name).is_none()
                && let Some(old) = previous.batch(name)
            {
                config.batches.push(old.clone());
                config.kept_running.push(name.to_owned());
            }
        }
        // Invalid batches do not hold up the others: the new configuration goes live, and
        // the broken batches are reported (and shown in the admin panel) until they are fixed.
        config.log();
        let batches = config.batches.len();
        let problems = config.problems();
        self.tx.send_replace(Arc::new(config));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = before;
        }
        Ok(Reload::Applied { batches, problems })
    }

    /// Reloads if any file under the metrics folder changed since the last load.
    pub fn reload_if_changed(&self) -> Result<Reload, ConfigErrors> {
        let Some((settings, _)) = &self.source else {
            return Ok(Reload::Unchanged);
        };
        let now = fingerprint(&settings.metrics_dir);
        let changed = self.seen.lock().map(|seen| *seen != now).unwrap_or(true);
        if !changed {
            return Ok(Reload::Unchanged);
        }
        let result = self.reload();
        if result.is_err() {
            // Do not report the same broken files every poll; the next edit retries.
            if let Ok(mut seen) = self.seen.lock() {
                *seen = now;
            }
        }
        result
    }

    /// Polls the metrics folder every `every` until `shutdown` resolves, reloading on change.
    pub async fn watch(
        self: Arc<Self>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(every) => {}
            }
            let me = self.clone();
            let outcome = tokio::task::spawn_blocking(move || me.reload_if_changed()).await;
            match outcome {
                Ok(Ok(Reload::Applied { batches, problems })) => tracing::info!(
                    batches,
                    invalid = problems.0.len(),
                    "metrics folder changed: configuration reloaded"
                ),
                Ok(Ok(Reload::Unchanged)) => {}
                Ok(Err(errors)) => {
                    for e in &errors.0 {
                        tracing::error!("{e}");
                    }
                    tracing::error!(
                        errors = errors.0.len(),
                        "metrics folder changed but does not validate; the previous configuration keeps running"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "configuration reload did not finish"),
            }
        }
    }
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    // Bounded, so a symlink loop cannot keep the poll busy forever.
    let mut budget = 100_000usize;
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return out;
            }
            let path = entry.path();
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => stack.push(path),
                Ok(meta) => out.push((path, meta.len(), meta.modified().ok())),
                Err(_) => out.push((path, 0, None)),
            }
        }
    }
    out.sort();
    out
}
