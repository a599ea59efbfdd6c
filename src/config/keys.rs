//! The schema of a batch config as a table: every key a batch may set, with the kind of value it
//! takes. It drives the typing of `ANOMSTACK__<BATCH>__<KEY>` overrides and the "did you mean"
//! hint for unknown keys; a test keeps it in step with [`super::BatchSpec`].

/// How an environment override's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// true/false/yes/no/on/off/1/0.
    Bool,
    /// A whole number.
    Int,
    /// A finite number.
    Float,
    /// Taken verbatim (SQL, cron strings, names).
    Text,
    /// Verbatim, or null when empty or `null`/`none`.
    OptText,
    /// Parsed as YAML (JSON is YAML): lists, maps and values that may be either.
    Yaml,
}

pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
}

const fn key(name: &'static str, kind: Kind) -> Key {
    Key { name, kind }
}

use Kind::*;

/// Every top-level key, then the nested keys that may be overridden one by one (dotted).
pub static KEYS: &[Key] = &[
    key("metric_batch", Text),
    key("db", Text),
    key("table_key", Text),
    key("disable_batch", Bool),
    key("ingest_sql", OptText),
    key("ingest_fn", OptText),
    key("ingest_cmd", OptText),
    key("ingest_timeout_seconds", Int),
    key("ingest_metric_rounding", Int),
    key("score_metric_rounding", Int),
    key("summary_metric_timestamp_max_days_ago", Int),
    key("metric_tags", Yaml),
    key("delete_after_n_days", Int),
    key("chain_after_ingest", Bool),
    key("vars", Yaml),
    key("gcp_project_id", OptText),
    key("disable_dashboard", Bool),
    key("dashboard_stale_metric_max_days_ago", Int),
    key("model_path", Text),
    key("model_configs", Yaml),
    key("model_combination_method", Text),
    key("model_score_method", Text),
    key("train_max_n", Int),
    key("train_min_n", Int),
    key("train_metric_timestamp_max_days_ago", Int),
    key("score_max_n", Int),
    key("score_metric_timestamp_max_days_ago", Int),
    key("preprocess_params", Yaml),
    key("train_exclude_metrics", Yaml),
    key("score_exclude_metrics", Yaml),
    key("alert_methods", Yaml),
    key("change_methods", Yaml),
    key("llmalert_methods", Yaml),
    key("routes", Yaml),
    key("alert_always", Bool),
    key("alert_resolve_n", Int),
    key("alert_metric_timestamp_max_days_ago", Int),
    key("alert_recent_n", Int),
    key("alert_max_n", Int),
    key("alert_smooth_n", Int),
    key("alert_snooze_n", Int),
    key("alert_threshold", Float),
    key("alert_exclude_metrics", Yaml),
    key("alert_extreme_margin", Yaml),
    key("alert_direction", Text),
    key("alert_min_abs_change", Float),
    key("alert_min_rel_change", Float),
    key("metric_alert_settings", Yaml),
    key("feedback_margin", Float),
    key("feedback_half_life_n", Int),
    key("alert_budget", OptText),
    key("stale_after_n", Int),
    key("incident_window_minutes", Int),
    key("tholdalert_methods", Yaml),
    key("tholdalert_recent_n", Int),
    key("tholdalert_snooze_n", Int),
    key("tholdalert_thresholds", Yaml),
    key("tholdalert_exclude_metrics", Yaml),
    key("change_metric_timestamp_max_days_ago", Int),
    key("change_max_n", Int),
    key("change_smooth_n", Int),
    key("change_snooze_n", Int),
    key("change_threshold", Float),
    key("change_detect_last_n", Int),
    key("change_include_metrics", Yaml),
    key("change_exclude_metrics", Yaml),
    key("llmalert_model", Text),
    key("llmalert_recent_n", Int),
    key("llmalert_smooth_n", Int),
    key("llmalert_metric_rounding", Int),
    key("llmalert_metric_timestamp_max_days_ago", Int),
    key("llmalert_prompt_max_n", Int),
    key("llmalert_include_plot", Bool),
    key("llmalert_anomaly_agent_detection_prompt", OptText),
    key("llmalert_anomaly_agent_system_prompt", OptText),
    key("llmalert_anomaly_agent_verification_prompt", OptText),
    key("ingest_cron_schedule", Text),
    key("ingest_default_schedule_status", Text),
    key("train_cron_schedule", Text),
    key("train_default_schedule_status", Text),
    key("score_cron_schedule", Text),
    key("score_default_schedule_status", Text),
    key("alert_cron_schedule", Text),
    key("alert_default_schedule_status", Text),
    key("change_cron_schedule", Text),
    key("change_default_schedule_status", Text),
    key("llmalert_cron_schedule", Text),
    key("llmalert_default_schedule_status", Text),
    key("plot_cron_schedule", Text),
    key("plot_default_schedule_status", Text),
    key("delete_cron_schedule", Text),
    key("delete_default_schedule_status", Text),
    key("summary_cron_schedule", Text),
    key("disable_ingest", Bool),
    key("disable_train", Bool),
    key("disable_score", Bool),
    key("disable_alert", Bool),
    key("disable_change", Bool),
    key("disable_llmalert", Bool),
    key("disable_plot", Bool),
    key("disable_summary", Bool),
    key("disable_delete", Bool),
    key("disable_tholdalert", Bool),
    key("train_sql", Text),
    key("score_sql", Text),
    key("alert_sql", Text),
    key("change_sql", Text),
    key("llmalert_sql", Text),
    key("plot_sql", Text),
    key("delete_sql", Text),
    key("summary_sql", Text),
    key("preprocess_fn", OptText),
    key("prompt_fn", OptText),
    key("dashboard_sql", OptText),
    key("sql_dialect", Text),
    // Nested keys an override may target on their own: ANOMSTACK__B__PREPROCESS_PARAMS__DIFF_N.
    key("preprocess_params.diff_n", Int),
    key("preprocess_params.smooth_n", Int),
    key("preprocess_params.lags_n", Int),
    key("preprocess_params.freq", OptText),
    key("preprocess_params.freq_agg", Text),
    key("preprocess_params.center", Bool),
];

/// Keys of the original that have no effect here; setting one draws a warning, not an error.
pub static IGNORED_LEGACY_KEYS: &[&str] = &["preprocess_fn", "prompt_fn", "dashboard_sql"];

/// Keys older versions of the original Anomstack read that are neither keys here nor aliases:
/// accepted and ignored (with a note), so an old `defaults/defaults.yaml` loads unchanged.
/// `metric_sql` fed a chart of the first dashboard; the TimeGPT alert was removed upstream.
pub static RETIRED_KEYS: &[&str] = &[
    "metric_sql",
    "timegpt_sql",
    "disable_timegptalert",
    "timegptalert_recent_n",
    "timegptalert_smooth_n",
    "timegptalert_metric_rounding",
    "timegptalert_max_n",
    "timegptalert_freq",
    "timegptalert_freq_agg",
    "timegptalert_cron_schedule",
    "timegptalert_default_schedule_status",
    "timegptalert_methods",
];

/// Another name of a key, as some version of the original's code read it.
pub struct Alias {
    pub name: &'static str,
    /// The key it sets, dotted for a nested one.
    pub target: &'static str,
    /// Why the name exists, for the note `validate` prints.
    pub why: &'static str,
}

/// Names of keys that the original's code read under another name, or that early versions of
/// its `defaults.yaml` used. A file that sets both a name and its target keeps the target.
pub static ALIASES: &[Alias] = &[
    Alias {
        name: "disable_alerts",
        target: "disable_alert",
        why: "the original's alert job read `disable_alerts`",
    },
    Alias {
        name: "preprocess_diff_n",
        target: "preprocess_params.diff_n",
        why: "early versions of the original",
    },
    Alias {
        name: "preprocess_smooth_n",
        target: "preprocess_params.smooth_n",
        why: "early versions of the original",
    },
    Alias {
        name: "preprocess_lags_n",
        target: "preprocess_params.lags_n",
        why: "early versions of the original",
    },
    Alias {
        name: "model_config",
        target: "model_configs",
        why: "versions of the original before `model_configs` held one model",
    },
];

pub fn alias(name: &str) -> Option<&'static Alias> {
    ALIASES.iter().find(|a| a.name == name)
}

/// Keys whose default the original left commented out, so its templates ask `{% if key is
/// defined %}`. In a template context they are left undefined while they hold nothing, so
/// such a test answers as it did there.
pub static UNDEFINED_WHEN_EMPTY: &[&str] = &[
    "metric_tags",
    "train_exclude_metrics",
    "score_exclude_metrics",
    "alert_exclude_metrics",
    "change_include_metrics",
    "change_exclude_metrics",
    "tholdalert_thresholds",
    "tholdalert_exclude_metrics",
    "gcp_project_id",
    "llmalert_anomaly_agent_detection_prompt",
    "llmalert_anomaly_agent_system_prompt",
    "llmalert_anomaly_agent_verification_prompt",
];

pub fn find(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == path)
}

/// The known key closest to a misspelt one, if any is close enough to be a likely typo.
pub fn suggest(unknown: &str) -> Option<&'static str> {
    let unknown = unknown.to_ascii_lowercase();
    KEYS.iter()
        .filter(|k| !k.name.contains('.'))
        .map(|k| (strsim::damerau_levenshtein(&unknown, k.name), k.name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Nested keys of a top-level key (`preprocess_params` → `diff_n`, ...), for suggestions.
pub fn nested_of(parent: &str) -> impl Iterator<Item = &'static str> + '_ {
    KEYS.iter().filter_map(move |k| {
        k.name
            .strip_prefix(parent)
            .and_then(|rest| rest.strip_prefix('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_key() {
        assert_eq!(suggest("alert_treshold"), Some("alert_threshold"));
        assert_eq!(suggest("ingest_cron"), None);
        assert_eq!(suggest("train_max"), Some("train_max_n"));
        assert_eq!(suggest("completely_unrelated_thing"), None);
    }

    #[test]
    fn key_names_are_unique() {
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn nested_keys_are_listed_by_parent() {
        let nested: Vec<_> = nested_of("preprocess_params").collect();
        assert_eq!(
            nested,
            ["diff_n", "smooth_n", "lags_n", "freq", "freq_agg", "center"]
        );
    }
}
