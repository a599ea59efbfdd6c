//! Finding and reading batch files: every `*.yaml`/`*.yml` under the metrics directory
//! (recursively, in a stable order), except `defaults/` and, when asked, `examples/`. Reading
//! checks encoding, YAML syntax, the top-level shape and `metric_batch`, and reports unknown
//! keys with the closest known one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Value};

use super::error::{ConfigError, Origin};
use super::keys;
use super::layers::Layer;

/// A parsed batch (or defaults) file. Keys that were rejected are left out of `layer` and
/// reported in `errors`, so the rest of the file is still checked.
pub struct SourceFile {
    pub errors: Vec<ConfigError>,
    pub layer: Layer,
    /// `metric_batch` as written, when present.
    pub batch_name: Option<String>,
    /// Legacy keys the file sets that have no effect here.
    pub ignored_keys: Vec<String>,
}

/// Batch YAML files under `root`, sorted so the order (and duplicate reports) are stable.
pub fn batch_files(root: &Path, ignore_examples: bool) -> Result<Vec<PathBuf>, ConfigError> {
    let meta = std::fs::metadata(root).map_err(|e| {
        ConfigError::new(
            Origin::File(root.to_path_buf()),
            None,
            format!("cannot read the metrics directory: {e} (set ANOMSTACK_METRICS_DIR)"),
        )
    })?;
    if !meta.is_dir() {
        return Err(ConfigError::new(
            Origin::File(root.to_path_buf()),
            None,
            "the metrics directory is not a directory (set ANOMSTACK_METRICS_DIR)",
        ));
    }
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    walk(root, root, ignore_examples, &mut visited, &mut files)?;
    files.sort();
    Ok(files)
}

fn walk(
    root: &Path,
    dir: &Path,
    ignore_examples: bool,
    visited: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), ConfigError> {
    // A symlink back to a parent folder must not send us round in circles.
    if !visited.insert(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigError::new(
            Origin::File(dir.to_path_buf()),
            None,
            format!("cannot list directory: {e}"),
        )
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            ConfigError::new(
                Origin::File(dir.to_path_buf()),
                None,
                format!("cannot list directory: {e}"),
            )
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if dir == root && (name == "defaults" || (ignore_examples && name == "examples")) {
            continue;
        }
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        // Follow symlinks; one that points nowhere is reported when read, like any unreadable file.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(root, &path, ignore_examples, visited, out)?,
            Ok(_) | Err(_) if is_yaml => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

/// Reads and checks one YAML file. `require_batch` is false for `defaults.yaml`.
pub fn read_file(path: &Path, require_batch: bool) -> Result<SourceFile, Vec<ConfigError>> {
    let origin = Origin::File(path.to_path_buf());
    let bytes = std::fs::read(path).map_err(|e| {
        vec![ConfigError::new(
            origin.clone(),
            None,
            format!("cannot read file: {e}"),
        )]
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        vec![ConfigError::new(
            origin.clone(),
            None,
            format!(
                "not valid UTF-8 (invalid byte at offset {}); save the file as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )]
    })?;
    parse_text(origin, &text, require_batch)
}

/// Parses YAML text into a checked layer.
pub fn parse_text(
    origin: Origin,
    text: &str,
    require_batch: bool,
) -> Result<SourceFile, Vec<ConfigError>> {
    let one = |reason: String| vec![ConfigError::new(origin.clone(), None, reason)];
    let yaml: serde_yaml::Value = if text.trim().is_empty() {
        serde_yaml::Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(text).map_err(|e| one(format!("invalid YAML: {e}")))?
    };
    let serde_yaml::Value::Mapping(mapping) = yaml else {
        return Err(one(
            "expected a mapping of `key: value` lines at the top level".into(),
        ));
    };

    let mut errors = Vec::new();
    let mut dict = Dict::new();
    let mut ignored_keys = Vec::new();
    for (key, value) in mapping {
        let Some(key) = key.as_str().map(str::to_owned) else {
            errors.push(ConfigError::new(
                origin.clone(),
                None,
                format!("keys must be text, found {}", describe_yaml(&key)),
            ));
            continue;
        };
        if keys::find(&key).is_none() {
            let hint = keys::suggest(&key)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            errors.push(ConfigError::new(
                origin.clone(),
                Some(&key),
                format!("unknown key{hint}"),
            ));
            continue;
        }
        if keys::IGNORED_LEGACY_KEYS.contains(&key.as_str()) && !value.is_null() {
            ignored_keys.push(key.clone());
        }
        match Value::serialize(&value) {
            Ok(v) => {
                dict.insert(key, v);
            }
            Err(e) => errors.push(ConfigError::new(origin.clone(), Some(&key), e.to_string())),
        }
    }

    let batch_name = match dict.get("metric_batch") {
        Some(Value::String(_, name)) if !name.trim().is_empty() => Some(name.clone()),
        Some(_) => {
            errors.push(ConfigError::new(
                origin.clone(),
                Some("metric_batch"),
                "expected a non-empty name",
            ));
            None
        }
        None if require_batch => {
            errors.push(ConfigError::new(
                origin.clone(),
                Some("metric_batch"),
                "missing; every YAML file under the metrics directory defines one batch",
            ));
            None
        }
        None => None,
    };

    Ok(SourceFile {
        errors,
        layer: Layer { origin, dict },
        batch_name,
        ignored_keys,
    })
}

fn describe_yaml(value: &serde_yaml::Value) -> String {
    serde_yaml::to_string(value)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "a non-text key".into())
}
