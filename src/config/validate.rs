//! Rules a batch must satisfy beyond its types: ranges, consistency between keys, names that
//! end up in SQL or URLs, and what this build can run. Each problem is `(key, reason)`; the
//! loader adds the file or variable that set the key.

use std::path::Path;

use super::batch::{BatchSpec, DbKind};
use crate::detect::DetectorSpec;

pub type Problem = (&'static str, String);

/// Keys whose rule involves another key; a problem is reported on whichever of them the user
/// set, so `ANOMSTACK__X__TRAIN_MAX_N=10` is blamed for "train_min_n is above train_max_n".
pub fn related_keys(key: &str) -> &'static [&'static str] {
    match key {
        "train_min_n" => &["train_max_n"],
        _ => &[],
    }
}

/// Tables of the app's own; a batch may not store its metrics in them.
const RESERVED_TABLES: &[&str] = &["anomstack_schema", "job_runs", "models"];

pub fn check(spec: &BatchSpec, batch_dir: &Path) -> Vec<Problem> {
    let mut out = Vec::new();

    if !is_batch_name(&spec.metric_batch) {
        out.push((
            "metric_batch",
            format!(
                "`{}` is not a valid batch name: use letters, digits, `_`, `-` or `.`, at most {} of them",
                spec.metric_batch,
                crate::names::MAX_NAME_BYTES
            ),
        ));
    }
    if !is_identifier(&spec.table_key) {
        out.push((
            "table_key",
            format!(
                "`{}` is not a SQL table name (letters, digits and `_`, not starting with a \
                 digit; a dotted name such as `dataset.metrics` uses its last part)",
                spec.table_key
            ),
        ));
    } else if RESERVED_TABLES.contains(&spec.table_key.to_ascii_lowercase().as_str())
        || spec.table_key.to_ascii_lowercase().starts_with("sqlite_")
    {
        out.push((
            "table_key",
            format!("`{}` is reserved for the app's own data", spec.table_key),
        ));
    }

    // Tags name metrics and label alerts: the same bound as the metric names they tag.
    for (metric, tags) in &spec.metric_tags {
        for name in std::iter::once(metric).chain(tags.keys()) {
            if let Some(why) = crate::names::problem_of("tag name", name) {
                out.push(("metric_tags", why));
            }
        }
    }

    let sources = [
        ("ingest_sql", spec.ingest_sql.is_some()),
        ("ingest_fn", spec.ingest_fn.is_some()),
        ("ingest_cmd", spec.ingest_cmd.is_some()),
    ];
    let set: Vec<&str> = sources
        .iter()
        .filter(|(_, s)| *s)
        .map(|(k, _)| *k)
        .collect();
    match set.as_slice() {
        [] if !spec.disable_ingest => out.push((
            "ingest_sql",
            "the batch has no ingest: set one of ingest_sql, ingest_fn or ingest_cmd (or disable_ingest: true to only push metrics through the API)".into(),
        )),
        [_, second, ..] => out.push((
            second,
            format!("set only one of {}", set.join(", ")),
        )),
        _ => {}
    }
    if let Some(problem) = spec
        .ingest_cmd
        .as_deref()
        .and_then(|cmd| check_ingest_cmd(cmd, batch_dir))
    {
        out.push(("ingest_cmd", problem));
    }

    if !(0.0..=1.0).contains(&spec.alert_threshold) {
        out.push((
            "alert_threshold",
            format!(
                "expected a number between 0 and 1, got {}",
                spec.alert_threshold
            ),
        ));
    }
    if let Some(m) = spec.alert_extreme_margin
        && !(m.is_finite() && m >= 0.0)
    {
        out.push((
            "alert_extreme_margin",
            format!("expected a number of at least 0 or null, got {m}"),
        ));
    }
    if !(spec.feedback_margin.is_finite() && spec.feedback_margin >= 0.0) {
        out.push((
            "feedback_margin",
            format!(
                "expected a number of at least 0, got {}",
                spec.feedback_margin
            ),
        ));
    }
    let floors = std::iter::once((None, spec.alert_min_abs_change, spec.alert_min_rel_change))
        .chain(spec.metric_alert_settings.iter().map(|(metric, own)| {
            (
                Some(metric),
                own.alert_min_abs_change.unwrap_or(0.0),
                own.alert_min_rel_change.unwrap_or(0.0),
            )
        }));
    for (metric, abs, rel) in floors {
        let key = if metric.is_some() {
            "metric_alert_settings"
        } else {
            "alert_min_abs_change"
        };
        let whose = metric.map(|m| format!("`{m}`: ")).unwrap_or_default();
        if !(abs.is_finite() && abs >= 0.0) {
            out.push((
                key,
                format!("{whose}alert_min_abs_change must be at least 0, got {abs}"),
            ));
        }
        if !(rel.is_finite() && rel >= 0.0) {
            let key = if metric.is_some() {
                key
            } else {
                "alert_min_rel_change"
            };
            out.push((
                key,
                format!("{whose}alert_min_rel_change must be at least 0, got {rel}"),
            ));
        }
    }
    if !(spec.change_threshold.is_finite() && spec.change_threshold > 0.0) {
        out.push((
            "change_threshold",
            format!("expected a number above 0, got {}", spec.change_threshold),
        ));
    }
    if spec.incident_window_minutes > 10_080 {
        out.push((
            "incident_window_minutes",
            format!(
                "expected at most 10080 (a week), got {}",
                spec.incident_window_minutes
            ),
        ));
    }
    for (key, value) in [
        ("train_max_n", spec.train_max_n),
        ("score_max_n", spec.score_max_n),
        ("alert_recent_n", spec.alert_recent_n),
        ("alert_max_n", spec.alert_max_n),
        ("change_max_n", spec.change_max_n),
        ("change_detect_last_n", spec.change_detect_last_n),
        ("tholdalert_recent_n", spec.tholdalert_recent_n),
        ("llmalert_prompt_max_n", spec.llmalert_prompt_max_n),
    ] {
        if value == 0 {
            out.push((key, "expected at least 1, got 0".into()));
        }
    }
    if spec.train_min_n > spec.train_max_n {
        out.push((
            "train_min_n",
            format!(
                "{} is above train_max_n ({}), so no metric could ever train",
                spec.train_min_n, spec.train_max_n
            ),
        ));
    }
    if spec.llmalert_metric_rounding < -1 {
        out.push((
            "llmalert_metric_rounding",
            format!(
                "expected -1 (no rounding) or more, got {}",
                spec.llmalert_metric_rounding
            ),
        ));
    }
    for (metric, bounds) in &spec.tholdalert_thresholds {
        let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
        if bounds.upper.is_none() && bounds.lower.is_none() {
            out.push((
                "tholdalert_thresholds",
                format!("`{metric}`: set upper, lower or both"),
            ));
        } else if !finite(bounds.upper) || !finite(bounds.lower) {
            out.push((
                "tholdalert_thresholds",
                format!("`{metric}`: bounds must be finite numbers"),
            ));
        } else if let (Some(upper), Some(lower)) = (bounds.upper, bounds.lower)
            && lower > upper
        {
            out.push((
                "tholdalert_thresholds",
                format!("`{metric}`: lower ({lower}) is above upper ({upper})"),
            ));
        }
    }

    if spec.model_configs.is_empty() {
        out.push((
            "model_configs",
            "expected at least one model (the default is PCA and KNN)".into(),
        ));
    }
    let mut tags = std::collections::BTreeSet::new();
    for (i, model) in spec.model_configs.iter().enumerate() {
        if let Err(reason) = DetectorSpec::from_config(&model.model_name, &model.model_params) {
            out.push((
                "model_configs",
                format!("entry {} ({}): {reason}", i + 1, model.model_name),
            ));
        }
        let tag = model.tag();
        if !tags.insert(tag.clone()) {
            out.push((
                "model_configs",
                format!(
                    "entry {}: model_tag `{tag}` is used twice; each model needs its own tag",
                    i + 1
                ),
            ));
        }
    }
    if !["local://", "db://", "s3://", "gs://", "az://"]
        .iter()
        .any(|scheme| spec.model_path.starts_with(scheme))
    {
        out.push((
            "model_path",
            format!(
                "`{}` has no known scheme; use local://, db://, s3://, gs:// or az://",
                spec.model_path
            ),
        ));
    }
    out
}

/// Why this build cannot use the object store `model_path` names, if it cannot (its cargo
/// feature was left out). The model store and `validate` give the same reason.
pub fn model_store_unavailable(model_path: &str) -> Option<&'static str> {
    let scheme = model_path.split("://").next().unwrap_or_default();
    match scheme {
        "s3" | "s3a" if !cfg!(feature = "s3") => {
            Some("this build has no S3 support (cargo feature `s3`; the Docker image has it)")
        }
        "gs" | "gcs" if !cfg!(feature = "gcs") => {
            Some("this build has no GCS support (cargo feature `gcs`; the Docker image has it)")
        }
        "az" | "azure" | "abfs" | "abfss" if !cfg!(feature = "azure") => Some(
            "this build has no Azure Blob support (cargo feature `azure`; the Docker image has it)",
        ),
        _ => None,
    }
}

/// A command given as a relative path must exist next to the batch file; bare names are
/// looked up on PATH when the job runs.
fn check_ingest_cmd(cmd: &str, batch_dir: &Path) -> Option<String> {
    let program = cmd.split_whitespace().next()?;
    if !program.contains('/') {
        return None;
    }
    let path = batch_dir.join(program);
    if path.is_file() {
        None
    } else {
        Some(format!(
            "program `{program}` not found (looked for {})",
            path.display()
        ))
    }
}

pub fn is_batch_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= crate::names::MAX_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The table a `table_key` names in the app database: the key itself, or the last part of a
/// dotted name of the original's warehouses (`project.dataset.metrics`, quoted or not), in
/// lower case as those warehouses fold unquoted names. `None` if no part is usable.
pub fn table_of_key(key: &str) -> Option<String> {
    let key = key.trim();
    if !key.contains('.') {
        return Some(key.to_owned());
    }
    let parts: Vec<&str> = key
        .split('.')
        .map(|p| {
            p.trim()
                .trim_matches(|c| matches!(c, '`' | '"' | '[' | ']'))
        })
        .collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let last = parts.last()?.to_ascii_lowercase();
    is_identifier(&last).then_some(last)
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl DbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Turso => "turso",
            DbKind::Duckdb => "duckdb",
            DbKind::Clickhouse => "clickhouse",
            DbKind::Bigquery => "bigquery",
            DbKind::Snowflake => "snowflake",
            DbKind::Postgres => "postgres",
            DbKind::Redshift => "redshift",
        }
    }

    /// Engines this binary can run `ingest_sql` on.
    pub fn available() -> &'static [DbKind] {
        &[
            DbKind::Sqlite,
            #[cfg(feature = "turso")]
            DbKind::Turso,
            #[cfg(feature = "duckdb")]
            DbKind::Duckdb,
            #[cfg(feature = "clickhouse")]
            DbKind::Clickhouse,
            #[cfg(feature = "bigquery")]
            DbKind::Bigquery,
            #[cfg(feature = "snowflake")]
            DbKind::Snowflake,
            #[cfg(feature = "postgres")]
            DbKind::Postgres,
            #[cfg(feature = "redshift")]
            DbKind::Redshift,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_sql_names() {
        assert!(is_identifier("metrics"));
        assert!(is_identifier("_m2"));
        assert!(!is_identifier("tmp.metrics"));
        assert!(!is_identifier("2metrics"));
        assert!(!is_identifier("m; drop table x"));
    }

    #[test]
    fn dotted_table_keys_name_their_last_part() {
        assert_eq!(table_of_key("metrics").as_deref(), Some("metrics"));
        assert_eq!(table_of_key("tmp.metrics").as_deref(), Some("metrics"));
        assert_eq!(
            table_of_key("ANDREWM4894.METRICS.METRICS").as_deref(),
            Some("metrics")
        );
        assert_eq!(
            table_of_key("`my-project.dataset.metrics_github`").as_deref(),
            Some("metrics_github")
        );
        assert_eq!(table_of_key("tmp."), None);
        assert_eq!(table_of_key("a.b; drop table x"), None);
    }

    #[test]
    fn batch_names_allow_dashes_and_dots() {
        assert!(is_batch_name("my-batch.v2"));
        assert!(!is_batch_name("my batch"));
        assert!(!is_batch_name(""));
    }
}
