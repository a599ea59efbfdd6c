//! Shared setup for integration tests: a metrics folder in a temp dir, and local servers that
//! stand in for remote services.

#![allow(dead_code)]

pub mod app;
pub mod receiver;
pub mod services;
pub mod sqld;
pub mod stall;
pub mod warehouses;

use std::path::{Path, PathBuf};

use anomstack::config::{self, Config, ConfigErrors, EnvVars, Settings};

/// A temporary metrics directory with helpers to write batch files and load them.
pub struct MetricsDir {
    pub tmp: tempfile::TempDir,
}

impl MetricsDir {
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.tmp.path().join("metrics")
    }

    /// Writes `text` at `relative` under the metrics directory, creating folders.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        self.write_bytes(relative, text.as_bytes())
    }

    pub fn write_bytes(&self, relative: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
        path
    }

    pub fn settings(&self, env: &EnvVars) -> Settings {
        let mut s = Settings::from_env(env).expect("settings");
        s.metrics_dir = self.path();
        s
    }

    pub fn load(&self, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let env = EnvVars::from_pairs(env.iter().copied());
        std::fs::create_dir_all(self.path()).expect("mkdir");
        config::load(&self.settings(&env), &env)
    }

    /// Loads and expects every batch to validate.
    pub fn load_ok(&self, env: &[(&str, &str)]) -> Config {
        match self.load(env) {
            Ok(c) if c.is_valid() => c,
            Ok(c) => panic!("expected the config to load, got:\n{}", c.problems()),
            Err(e) => panic!("expected the config to load, got:\n{e}"),
        }
    }

    /// Loads and expects problems; returns the error lines.
    pub fn load_err(&self, env: &[(&str, &str)]) -> Vec<String> {
        match self.load(env) {
            Ok(c) if c.is_valid() => panic!("expected configuration errors"),
            Ok(c) => c.problems().0.iter().map(ToString::to_string).collect(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }
}

/// The repository's own metrics folder.
pub fn repo_metrics_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics")
}

/// A minimal valid batch.
pub fn batch_yaml(name: &str) -> String {
    format!("metric_batch: {name}\ningest_sql: SELECT 1\n")
}
