//! Recognising what a folder copied from the original Anomstack carries, so it runs unchanged:
//! its stock job queries (`defaults/sql/*.sql`, DuckDB, SQLite or BigQuery flavoured by
//! version, shaped for its Python jobs) are served by the native queries with the intended
//! semantics, and its `defaults.yaml` keeps the score calibration its thresholds were set for.

use figment::value::{Dict, Value};

/// The job-query keys a batch has, each with the file of the built-in defaults it includes.
pub const JOB_QUERY_KEYS: &[&str] = &[
    "train_sql",
    "score_sql",
    "alert_sql",
    "change_sql",
    "llmalert_sql",
    "plot_sql",
    "delete_sql",
    "summary_sql",
];

/// Words found in every stored version of the original's job templates and in none of ours:
/// their header comments, and the columns their Python jobs read.
const MARKERS: &[&str] = &[
    "Template for generating",
    "translated to target dialect",
    "recency_rank",
    "metric_score_smooth",
    "metric_value_smooth",
    "metric_alert_historic",
    "data_timegpt",
];

/// True for one of the original Anomstack's stock job templates (any version): it reads the
/// metrics table through `{{ table_key }}`, carries one of their markers, and uses nothing of
/// ours (`run_ts`, the `sql_quote` filter).
pub fn is_original_job_template(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let reads_table = compact.contains("{{table_key}}") || compact.contains("`{{table_key}}`");
    let ours = compact.contains("run_ts") || compact.contains("sql_quote");
    let lower = text.to_ascii_lowercase();
    let marked = MARKERS
        .iter()
        .any(|m| lower.contains(&m.to_ascii_lowercase()))
        || lower.contains("delete from {{ table_key }}")
        || (lower.contains("n_metric") && lower.contains("n_alert"));
    reads_table && marked && !ours
}

/// A delete query that removes whole time ranges of a batch, as the original's stock one
/// does: conditions on a metric's name, type or value mean a user narrowed it, and the native
/// delete (every row older than `delete_after_n_days`) would remove more than they meant.
pub fn is_stock_delete(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    !["metric_name", "metric_type", "metric_value"]
        .iter()
        .any(|column| lower.contains(column))
}

/// The file a template value does nothing but include (`{% include "./defaults/sql/x.sql" %}`
/// with optional whitespace control), as the original's `defaults.yaml` writes job queries.
pub fn lone_include(value: &str) -> Option<&str> {
    let inner = value
        .trim()
        .strip_prefix("{%")?
        .strip_suffix("%}")?
        .trim_matches('-')
        .trim();
    let rest = inner.strip_prefix("include")?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let name = rest[1..].strip_suffix(quote)?;
    (!name.is_empty() && !name.contains(quote)).then_some(name)
}

/// Whether a `defaults.yaml` is the original Anomstack's: it has none of anomstack's own
/// score calibration (`model_score_method`) but the keys every version of the original's set
/// (its models, or its job queries).
pub fn is_original_defaults(dict: &Dict) -> bool {
    !dict.contains_key("model_score_method")
        && ["model_configs", "train_sql", "score_sql"]
            .iter()
            .any(|k| dict.contains_key(*k))
}

/// What an original `defaults.yaml` implies beyond what it sets: the original's model setup,
/// which its `alert_threshold` was chosen for. Scores are PyOD's min-max probability
/// (`linear`); a file of the versions that left models and features to the code gets what that
/// code used (PCA and KNN on smoothed differences with five lags).
pub fn implied_by_original_defaults(dict: &Dict) -> Vec<(&'static str, Value)> {
    let mut out = vec![("model_score_method", Value::from("linear".to_owned()))];
    if !dict.contains_key("model_configs") {
        let model = |name: &str, tag: &str| {
            let mut params = Dict::new();
            params.insert("contamination".into(), Value::from(0.01));
            let mut m = Dict::new();
            m.insert("model_name".into(), Value::from(name.to_owned()));
            m.insert("model_tag".into(), Value::from(tag.to_owned()));
            m.insert("model_params".into(), Value::from(params));
            Value::from(m)
        };
        out.push((
            "model_configs",
            Value::from(vec![
                model("PCA", "pca_default"),
                model("KNN", "knn_default"),
            ]),
        ));
    }
    if !dict.contains_key("preprocess_params") {
        let mut p = Dict::new();
        for (k, v) in [("diff_n", 1), ("smooth_n", 3), ("lags_n", 5)] {
            p.insert(k.into(), Value::from(v));
        }
        out.push(("preprocess_params", Value::from(p)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_era_of_the_original_job_templates_is_recognised() {
        // DuckDB era, with the header and the Python join.
        let duckdb = "/*\nTemplate for generating the input data for the train job.\n\nWritten for DuckDB but will be translated to target dialect based on `db` param via sqlglot.\n*/\nwith data as (select metric_timestamp, metric_name, avg(metric_value) as metric_value from {{ table_key }} where metric_batch = '{{ metric_batch }}' {% if train_exclude_metrics is defined %} and metric_name not in ({{ ','.join(train_exclude_metrics) }}) {% endif %} group by 1, 2), data_ranked as (select *, row_number() over (partition by metric_name order by metric_timestamp desc) as metric_recency_rank from data) select * from data_ranked where metric_recency_rank <= {{ train_max_n }}";
        assert!(is_original_job_template(duckdb));
        // Early era: no header, backticks, BigQuery functions.
        let early = "select * except (metric_score_recency_rank) from (select *, rank() over (partition by metric_name order by metric_timestamp desc) as metric_score_recency_rank from `{{ table_key }}` where metric_batch = '{{ metric_batch }}')";
        assert!(is_original_job_template(early));
        // Summary and delete.
        assert!(is_original_job_template(
            "select metric_batch, metric_name, max(metric_timestamp) as metric_timestamp_max, sum(if(metric_type='metric',1,0)) as n_metric, sum(if(metric_type='alert',1,0)) as n_alert from {{ table_key }} group by 1, 2"
        ));
        assert!(is_original_job_template(
            "delete from {{ table_key }} where metric_batch = '{{ metric_batch }}' and metric_timestamp < current_date - interval '{{ delete_after_n_days }} day'"
        ));
    }

    #[test]
    fn the_native_job_templates_are_not_taken_for_the_original() {
        for (path, text) in super::super::embedded::FILES {
            if path.ends_with(".sql") {
                assert!(!is_original_job_template(text), "{path}");
            }
        }
        // A user's own query in the native shape.
        assert!(!is_original_job_template(
            "SELECT metric_timestamp, metric_name, metric_value FROM {{ table_key }} WHERE metric_batch = '{{ metric_batch }}'"
        ));
    }

    #[test]
    fn lone_includes_are_read_as_the_original_writes_them() {
        assert_eq!(
            lone_include("{% include \"./defaults/sql/train.sql\" %}\n"),
            Some("./defaults/sql/train.sql")
        );
        assert_eq!(
            lone_include("  {%- include './defaults/alerts.sql' -%}"),
            Some("./defaults/alerts.sql")
        );
        assert_eq!(lone_include("SELECT 1"), None);
        assert_eq!(
            lone_include("{% include \"a.sql\" %} UNION {% include \"b.sql\" %}"),
            None
        );
    }

    #[test]
    fn a_defaults_file_with_models_or_job_queries_but_no_calibration_is_the_originals() {
        let mut dict = Dict::new();
        assert!(!is_original_defaults(&dict));
        dict.insert("train_sql".into(), Value::from("x".to_owned()));
        assert!(is_original_defaults(&dict));
        // The early versions left models and features to the code.
        let implied: Vec<&str> = implied_by_original_defaults(&dict)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            implied,
            ["model_score_method", "model_configs", "preprocess_params"]
        );
        dict.insert("model_configs".into(), Value::from(Vec::<Value>::new()));
        dict.insert("preprocess_params".into(), Value::from(Dict::new()));
        assert_eq!(implied_by_original_defaults(&dict).len(), 1);
        dict.insert("model_score_method".into(), Value::from("rank".to_owned()));
        assert!(!is_original_defaults(&dict));
    }
}
