//! SQL and prompt templates (minijinja, with Jinja2's semantics where the original's templates
//! rely on them). The context is the whole batch config (keys that are not configuration keys
//! included, as the original passed every YAML key), plus `run_ts` (the job's logical time,
//! UTC `YYYY-MM-DD HH:MM:SS`, which backfills move into the past) and `metrics_dir`.
//! `{% include "./x/y.sql" %}` reads files relative to the metrics directory; `defaults/...`
//! falls back to the copies compiled into the binary, and a stock job query of the original
//! Anomstack at such a path is served by the native one (see [`super::original`]).
//!
//! As in Jinja2, an undefined variable renders as nothing and Python's string, list and dict
//! methods work (`','.join(xs)`); `validate` warns about variables nothing defines.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior, Value};

use super::batch::BatchSpec;
use super::discover::CUSTOM;
use super::{embedded, keys, original};

/// Format of timestamps in the app database and in templates.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Names a template may use that are not context variables.
const TEMPLATE_NAMES: &[&str] = &["loop", "self", "caller", "varargs", "kwargs", "super"];

#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    root: PathBuf,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl Templates {
    pub fn new(metrics_dir: &Path) -> Self {
        let root = metrics_dir.to_path_buf();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_keep_trailing_newline(true);
        let loader_root = root.clone();
        env.set_loader(move |name| load_template(&loader_root, name));
        env.add_filter("sql_quote", sql_quote);
        env.add_filter("sql_list", sql_list);
        Self {
            env: Arc::new(env),
            root,
        }
    }

    /// Renders `source` for `batch` at logical time `run_ts`.
    pub fn render(
        &self,
        source: &str,
        batch: &BatchSpec,
        run_ts: DateTime<Utc>,
    ) -> Result<String, TemplateError> {
        let ctx = self.context(batch, run_ts);
        self.env.render_str(source, ctx).map_err(|e| {
            let mut text = describe(&e);
            if e.kind() == minijinja::ErrorKind::UndefinedError {
                let names = self.undefined_variables(source, batch);
                if !names.is_empty() {
                    text.push_str(&format!(
                        " (not defined: {}; a key of the batch YAML or `vars:` defines one)",
                        names.join(", ")
                    ));
                }
            }
            TemplateError(text)
        })
    }

    /// The variables a template sees: every key of the batch config, keys that are not
    /// configuration keys at the top level (as the original's Jinja context had them), and
    /// the run's time. Keys the original left undefined stay undefined while they are empty,
    /// so `{% if train_exclude_metrics is defined %}` answers as it did there.
    fn context(&self, batch: &BatchSpec, run_ts: DateTime<Utc>) -> Value {
        let mut map = match serde_json::to_value(batch) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let custom = match map.remove(CUSTOM) {
            Some(serde_json::Value::Object(custom)) => custom,
            _ => serde_json::Map::new(),
        };
        for key in keys::UNDEFINED_WHEN_EMPTY {
            if map.get(*key).is_some_and(is_empty) {
                map.remove(*key);
            }
        }
        for (key, value) in custom {
            map.entry(key).or_insert(value);
        }
        let ts = run_ts.format(TIMESTAMP_FORMAT).to_string();
        map.insert("run_ts".into(), ts.clone().into());
        map.insert("now".into(), ts.into());
        map.insert(
            "metrics_dir".into(),
            self.root.to_string_lossy().into_owned().into(),
        );
        Value::from_serialize(&map)
    }

    /// Variables `source`, and the templates it includes or imports, use that neither the
    /// batch nor the template engine defines. Jinja2 renders them as nothing, so they are
    /// worth a warning, not an error. Known configuration keys are left out: one left
    /// undefined (see [`Templates::context`]) is meant to be tested with `is defined`.
    pub fn undefined_variables(&self, source: &str, batch: &BatchSpec) -> Vec<String> {
        let used = self.variables_used(source);
        let context = self.context(batch, Utc::now());
        let globals: BTreeSet<&str> = self.env.globals().map(|(name, _)| name).collect();
        used.into_iter()
            .filter(|name| {
                context.get_attr(name).is_ok_and(|v| v.is_undefined())
                    && !globals.contains(name.as_str())
                    && !TEMPLATE_NAMES.contains(&name.as_str())
                    && keys::find(name).is_none()
            })
            .collect()
    }

    /// Every variable `source` and the templates it includes or imports read from the
    /// context (statically: both branches of an `if` count).
    pub fn variables_used(&self, source: &str) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        let mut seen = BTreeSet::new();
        self.collect_used(source, &mut used, &mut seen, 0);
        used
    }

    fn collect_used(
        &self,
        source: &str,
        used: &mut BTreeSet<String>,
        seen: &mut BTreeSet<String>,
        depth: usize,
    ) {
        if let Ok(template) = self.env.template_from_str(source) {
            used.extend(template.undeclared_variables(false));
        }
        if depth > 8 {
            return;
        }
        for name in referenced_templates(source) {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Ok(Some(text)) = load_template(&self.root, &name) {
                self.collect_used(&text, used, seen, depth + 1);
            }
        }
    }
}

fn is_empty(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Array(items) => items.is_empty(),
        serde_json::Value::Object(map) => map.is_empty(),
        serde_json::Value::String(text) => text.is_empty(),
        _ => false,
    }
}

/// The names in `{% include "..." %}`, `{% import "..." %}` and `{% from "..." import %}` tags.
fn referenced_templates(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("%}") else { break };
        let tag = after[..end].trim_matches('-').trim();
        let keyword = tag.split_whitespace().next().unwrap_or("");
        if matches!(keyword, "include" | "import" | "from") {
            let body = tag[keyword.len()..].trim_start();
            if let Some(quote) = body.chars().next().filter(|c| *c == '"' || *c == '\'')
                && let Some(close) = body[1..].find(quote)
            {
                out.push(body[1..1 + close].to_owned());
            }
        }
        rest = &after[end..];
    }
    out
}

fn describe(err: &minijinja::Error) -> String {
    let mut text = err.to_string().replace("<string>", "template");
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Resolves an include name to a file under the metrics directory, refusing to leave it.
fn load_template(root: &Path, name: &str) -> Result<Option<String>, minijinja::Error> {
    let Some(relative) = relative_template_path(name) else {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("include path `{name}` must stay inside the metrics directory"),
        ));
    };
    let path = root.join(&relative);
    let key = relative.to_string_lossy().replace('\\', "/");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("{} is not valid UTF-8", path.display()),
                )
            })?;
            // The original's stock query where a native one of the same name exists: the
            // native one, with the intended semantics, runs in its place.
            match embedded::get(&key) {
                Some(native) if original::is_original_job_template(&text) => {
                    Ok(Some(native.to_owned()))
                }
                _ => Ok(Some(text)),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(embedded::get(&key).map(str::to_owned))
        }
        Err(e) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// The text of a user's file that an include names, as written (no fallback, no
/// substitution); `None` when there is no such file inside the metrics directory.
pub(super) fn read_user_template(root: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(root.join(relative_template_path(name)?)).ok()
}

fn relative_template_path(name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// `'it''s'`: a SQL string literal.
fn sql_quote(value: String) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `('a', 'b')`: a SQL list of string literals. Items the original required pre-quoted
/// (`"'my_metric'"`) are accepted too.
fn sql_list(values: Vec<String>) -> String {
    let items: Vec<String> = values
        .into_iter()
        .map(|v| {
            let v = v.trim();
            let bare = v
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .unwrap_or(v);
            sql_quote(bare.to_owned())
        })
        .collect();
    format!("({})", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_paths_cannot_escape_the_metrics_directory() {
        assert_eq!(
            relative_template_path("./examples/a.sql"),
            Some(PathBuf::from("examples/a.sql"))
        );
        assert_eq!(relative_template_path("../secrets.txt"), None);
        assert_eq!(relative_template_path("/etc/passwd"), None);
    }

    #[test]
    fn sql_filters_quote_and_accept_prequoted_items() {
        assert_eq!(sql_quote("it's".into()), "'it''s'");
        assert_eq!(
            sql_list(vec!["a".into(), "'b'".into(), "c'd".into()]),
            "('a', 'b', 'c''d')"
        );
    }
}
