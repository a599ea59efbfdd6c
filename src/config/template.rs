//! SQL and prompt templates (minijinja). The whole batch config is the context, plus `run_ts`
//! (the job's logical time, UTC `YYYY-MM-DD HH:MM:SS`, which backfills move into the past).
//! `{% include "./x/y.sql" %}` reads files relative to the metrics directory; `defaults/...`
//! falls back to the copies compiled into the binary.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior, Value, context};

use super::batch::BatchSpec;
use super::embedded;

/// Format of timestamps in the app database and in templates.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl Templates {
    pub fn new(metrics_dir: &Path) -> Self {
        let root = metrics_dir.to_path_buf();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_loader(move |name| load_template(&root, name));
        env.add_filter("sql_quote", sql_quote);
        env.add_filter("sql_list", sql_list);
        Self { env: Arc::new(env) }
    }

    /// Renders `source` for `batch` at logical time `run_ts`.
    pub fn render(
        &self,
        source: &str,
        batch: &BatchSpec,
        run_ts: DateTime<Utc>,
    ) -> Result<String, TemplateError> {
        let ts = run_ts.format(TIMESTAMP_FORMAT).to_string();
        let ctx = context! {
            run_ts => ts.clone(),
            now => ts,
            ..Value::from_serialize(batch)
        };
        self.env
            .render_str(source, ctx)
            .map_err(|e| TemplateError(describe(&e)))
    }
}

fn describe(err: &minijinja::Error) -> String {
    let mut text = err.to_string();
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
    match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("{} is not valid UTF-8", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = relative.to_string_lossy().replace('\\', "/");
            Ok(embedded::get(&key).map(str::to_owned))
        }
        Err(e) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
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
