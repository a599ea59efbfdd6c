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
    /// Keys of retired features of the original, accepted and ignored.
    pub retired_keys: Vec<String>,
    /// Aliases the file uses, with the key each one set.
    pub aliased_keys: Vec<(String, &'static str)>,
    /// Keys that are not configuration keys: kept under [`CUSTOM`] as template variables,
    /// as the original's Jinja context held every key of the YAML. Whether each is a typo is
    /// decided once the batch's templates are known.
    pub custom_keys: Vec<String>,
}

/// Where keys that are not configuration keys are kept in the merged config.
pub const CUSTOM: &str = "__custom";

/// Batch YAML files under `root`, sorted so the order (and duplicate reports) are stable.
pub fn batch_files(root: &Path, ignore_examples: bool) -> Result<Vec<PathBuf>, ConfigError> {
    let meta = std::fs::metadata(root).map_err(|e| {
        ConfigError::new(
            Origin::File(root.to_path_buf()),
            None,
            format!(
                "cannot read the metrics directory: {e}; {}",
                where_to_look(root)
            ),
        )
    })?;
    if !meta.is_dir() {
        return Err(ConfigError::new(
            Origin::File(root.to_path_buf()),
            None,
            format!(
                "the metrics directory is not a directory; {}",
                where_to_look(root)
            ),
        ));
    }
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    walk(root, root, ignore_examples, &mut visited, &mut files)?;
    files.sort();
    Ok(files)
}

/// How to point the app at the right folder, saying where a relative path was looked for.
fn where_to_look(root: &Path) -> String {
    let fix = "set ANOMSTACK_METRICS_DIR to the folder that holds your batch YAML files";
    match std::env::current_dir() {
        Ok(cwd) if root.is_relative() => format!(
            "{fix} (a relative path is read from the working directory, so this looked in {})",
            cwd.join(root).display()
        ),
        _ => fix.to_owned(),
    }
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
    let mut retired_keys = Vec::new();
    let mut aliased: Vec<(String, &'static keys::Alias, Value)> = Vec::new();
    let mut custom = Dict::new();
    for (key, value) in mapping {
        let Some(key) = key.as_str().map(str::to_owned) else {
            errors.push(ConfigError::new(
                origin.clone(),
                None,
                format!("keys must be text, found {}", describe_yaml(&key)),
            ));
            continue;
        };
        let value = match Value::serialize(&value) {
            Ok(v) => v,
            Err(e) => {
                errors.push(ConfigError::new(origin.clone(), Some(&key), e.to_string()));
                continue;
            }
        };
        if keys::find(&key).is_some() {
            if keys::IGNORED_LEGACY_KEYS.contains(&key.as_str()) && !is_null(&value) {
                ignored_keys.push(key.clone());
            }
            dict.insert(key, value);
        } else if let Some(alias) = keys::alias(&key) {
            aliased.push((key, alias, value));
        } else if keys::RETIRED_KEYS.contains(&key.as_str()) {
            retired_keys.push(key);
        } else {
            custom.insert(key, value);
        }
    }
    // An alias never overrides the key it stands for when the file sets both.
    let mut aliased_keys = Vec::new();
    for (name, alias, value) in aliased {
        let value = if alias.target == "model_configs" {
            Value::from(vec![value])
        } else {
            value
        };
        if set_if_absent(&mut dict, alias.target, value) {
            aliased_keys.push((name, alias.target));
        }
    }
    let custom_keys: Vec<String> = custom.keys().cloned().collect();
    if !custom.is_empty() {
        dict.insert(CUSTOM.to_owned(), Value::from(custom));
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
        retired_keys,
        aliased_keys,
        custom_keys,
    })
}

fn is_null(value: &Value) -> bool {
    matches!(value, Value::Empty(..))
}

/// Sets `value` at a dotted `path` unless something is there; true if it was set.
fn set_if_absent(dict: &mut Dict, path: &str, value: Value) -> bool {
    match path.split_once('.') {
        None => {
            if dict.contains_key(path) {
                return false;
            }
            dict.insert(path.to_owned(), value);
            true
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            match entry {
                Value::Dict(_, inner) => set_if_absent(inner, rest, value),
                // The file set the parent to something else; its own error is reported there.
                _ => false,
            }
        }
    }
}

fn describe_yaml(value: &serde_yaml::Value) -> String {
    serde_yaml::to_string(value)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "a non-text key".into())
}
