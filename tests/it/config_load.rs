//! Loading batch configs: layer order, typed overrides, and every validation error naming its
//! file and key.

use anomstack::config::{AlertMethod, ScheduleStatus};

use crate::support::{MetricsDir, batch_yaml};

/// The batch's `ingest_sql`, rendered now.
fn render_ingest(config: &anomstack::config::Config, batch: &str) -> String {
    let batch = config.batch(batch).unwrap();
    config
        .templates
        .render(
            batch.spec.ingest_sql.as_deref().unwrap(),
            &batch.spec,
            chrono::Utc::now(),
        )
        .unwrap()
}

fn only_error(lines: &[String]) -> &str {
    assert_eq!(lines.len(), 1, "expected one error, got {lines:#?}");
    &lines[0]
}

#[test]
fn later_layers_win_defaults_then_batch_then_globals_then_batch_env() {
    let dir = MetricsDir::new();
    dir.write(
        "defaults/defaults.yaml",
        "alert_threshold: 0.7\nscore_max_n: 30\nmodel_path: local://./from_defaults\n",
    );
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nalert_threshold: 0.75\nmodel_path: local://./from_yaml\npreprocess_params:\n  diff_n: 2\n",
    );
    dir.write(
        "b.yaml",
        "metric_batch: b\ningest_sql: SELECT 1\ntable_key: own_table\n",
    );
    let config = dir.load_ok(&[
        ("ANOMSTACK_TABLE_KEY", "env_table"),
        ("ANOMSTACK_MODEL_PATH", "local://./from_env"),
        ("ANOMSTACK_GCP_PROJECT_ID", "proj-1"),
        ("ANOMSTACK__A__ALERT_THRESHOLD", "0.9"),
    ]);
    let a = &config.batch("a").unwrap().spec;
    let b = &config.batch("b").unwrap().spec;
    // batch env beats the batch YAML, which beats the user's defaults.yaml
    assert_eq!(a.alert_threshold, 0.9);
    assert_eq!(b.alert_threshold, 0.7);
    // user defaults beat built-in defaults
    assert_eq!(a.score_max_n, 30);
    // ANOMSTACK_MODEL_PATH beats the YAML; ANOMSTACK_TABLE_KEY only fills what the batch left
    assert_eq!(a.model_path, "local://./from_env");
    assert_eq!(a.table_key, "env_table");
    assert_eq!(b.table_key, "own_table");
    assert_eq!(a.gcp_project_id.as_deref(), Some("proj-1"));
    // nested maps merge key by key: only diff_n changed
    assert_eq!(a.preprocess_params.diff_n, 2);
    assert_eq!(a.preprocess_params.lags_n, 10);
    assert_eq!(a.preprocess_params.smooth_n, 0);
    // untouched keys keep the built-in defaults
    assert_eq!(a.train_max_n, 2500);
    assert_eq!(a.model_configs.len(), 1);
    assert_eq!(a.model_configs[0].model_name, "KNN");
}

#[test]
fn a_gcp_project_in_yaml_is_not_replaced_by_the_global_variable() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ngcp_project_id: mine\n",
    );
    let config = dir.load_ok(&[("ANOMSTACK_GCP_PROJECT_ID", "global")]);
    assert_eq!(
        config.batch("a").unwrap().spec.gcp_project_id.as_deref(),
        Some("mine")
    );
}

#[test]
fn boolean_overrides_are_typed_so_false_means_false() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ndisable_alert: true\ndisable_change: true\ndisable_score: true\nalert_always: false\n",
    );
    let config = dir.load_ok(&[
        ("ANOMSTACK__A__DISABLE_ALERT", "False"),
        ("ANOMSTACK__A__DISABLE_CHANGE", "no"),
        ("ANOMSTACK__A__DISABLE_SCORE", "0"),
        ("ANOMSTACK__A__ALERT_ALWAYS", "yes"),
        ("ANOMSTACK__A__DISABLE_LLMALERT", "FALSE"),
    ]);
    let a = &config.batch("a").unwrap().spec;
    assert!(!a.disable_alert, "DISABLE_ALERT=False must enable alerts");
    assert!(!a.disable_change);
    assert!(!a.disable_score);
    assert!(a.alert_always);
    assert!(!a.disable_llmalert);
}

#[test]
fn numeric_text_list_and_map_overrides_are_typed() {
    let dir = MetricsDir::new();
    dir.write("my-batch.yaml", &batch_yaml("my-batch"));
    let config = dir.load_ok(&[
        ("ANOMSTACK__MY_BATCH__TRAIN_MAX_N", "500"),
        ("ANOMSTACK__MY_BATCH__CHANGE_THRESHOLD", "4.5"),
        ("ANOMSTACK__MY_BATCH__INGEST_CRON_SCHEDULE", "*/1 * * * *"),
        (
            "ANOMSTACK__MY_BATCH__INGEST_DEFAULT_SCHEDULE_STATUS",
            "RUNNING",
        ),
        ("ANOMSTACK__MY_BATCH__ALERT_METHODS", "email"),
        ("ANOMSTACK__MY_BATCH__TRAIN_EXCLUDE_METRICS", "[a, b]"),
        ("ANOMSTACK__MY_BATCH__SCORE_EXCLUDE_METRICS", r#"["c"]"#),
        (
            "ANOMSTACK__MY_BATCH__THOLDALERT_THRESHOLDS",
            r#"{"m1": {"upper": 10, "lower": -1}}"#,
        ),
        ("ANOMSTACK__MY_BATCH__PREPROCESS_PARAMS__LAGS_N", "2"),
        ("ANOMSTACK__MY_BATCH__PREPROCESS_PARAMS__FREQ", "10min"),
    ]);
    let s = &config.batch("my-batch").unwrap().spec;
    assert_eq!(s.train_max_n, 500);
    assert_eq!(s.change_threshold, 4.5);
    assert_eq!(s.ingest_cron_schedule.as_str(), "*/1 * * * *");
    assert_eq!(s.ingest_default_schedule_status, ScheduleStatus::Running);
    assert_eq!(s.alert_methods.0, [AlertMethod::Email]);
    assert_eq!(s.train_exclude_metrics, ["a", "b"]);
    assert_eq!(s.score_exclude_metrics, ["c"]);
    let m1 = s.tholdalert_thresholds["m1"];
    assert_eq!((m1.upper, m1.lower), (Some(10.0), Some(-1.0)));
    assert_eq!(s.preprocess_params.lags_n, 2);
    assert_eq!(s.preprocess_params.diff_n, 0);
    assert_eq!(
        s.preprocess_params.freq.as_ref().map(|f| f.seconds()),
        Some(600)
    );
}

#[test]
fn disable_batch_can_be_set_by_environment_variable() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    dir.write(
        "b.yaml",
        "metric_batch: b\ningest_sql: SELECT 1\ndisable_batch: true\n",
    );
    let config = dir.load_ok(&[
        ("ANOMSTACK__A__DISABLE_BATCH", "true"),
        ("ANOMSTACK__B__DISABLE_BATCH", "false"),
    ]);
    let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
    assert_eq!(names, ["b"]);
    assert_eq!(config.disabled.len(), 1);
    assert_eq!(config.disabled[0].0, "a");
}

#[test]
fn an_override_that_does_not_parse_names_the_variable() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let lines = dir.load_err(&[("ANOMSTACK__A__ALERT_THRESHOLD", "high")]);
    assert_eq!(
        only_error(&lines),
        "environment variable ANOMSTACK__A__ALERT_THRESHOLD: key `alert_threshold`: expected a number, got \"high\""
    );
    let lines = dir.load_err(&[("ANOMSTACK__A__DISABLE_ALERT", "perhaps")]);
    assert!(
        only_error(&lines).contains("ANOMSTACK__A__DISABLE_ALERT"),
        "{lines:?}"
    );
}

#[test]
fn an_override_of_an_unknown_key_is_an_error_with_a_suggestion() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let lines = dir.load_err(&[("ANOMSTACK__A__ALERT_TRESHOLD", "0.5")]);
    assert_eq!(
        only_error(&lines),
        "environment variable ANOMSTACK__A__ALERT_TRESHOLD: key `alert_treshold`: unknown key; did you mean `alert_threshold`?"
    );
}

#[test]
fn an_override_with_a_range_problem_is_reported_against_the_variable() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let lines = dir.load_err(&[("ANOMSTACK__A__ALERT_THRESHOLD", "1.5")]);
    assert_eq!(
        only_error(&lines),
        "environment variable ANOMSTACK__A__ALERT_THRESHOLD: key `alert_threshold`: expected a number between 0 and 1, got 1.5"
    );
}

#[test]
fn variables_for_unknown_batches_are_warnings() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let config = dir.load_ok(&[("ANOMSTACK__GONE__TRAIN_MAX_N", "5")]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("ANOMSTACK__GONE__TRAIN_MAX_N matches no metric batch")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn unknown_keys_name_the_file_and_suggest_the_closest() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nalert_treshold: 0.9\n",
    );
    let lines = dir.load_err(&[]);
    assert_eq!(
        only_error(&lines),
        format!(
            "{}: key `alert_treshold`: unknown key; did you mean `alert_threshold`?",
            path.display()
        )
    );
}

#[test]
fn unknown_nested_keys_are_reported_with_their_path() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\npreprocess_params:\n  lag_n: 2\n",
    );
    let lines = dir.load_err(&[]);
    let line = only_error(&lines);
    assert!(line.starts_with(&path.display().to_string()), "{line}");
    assert!(line.contains("key `preprocess_params"), "{line}");
    assert!(
        line.contains("unknown key `lag_n`; did you mean `lags_n`?"),
        "{line}"
    );
}

#[test]
fn wrong_types_name_file_key_and_value() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ntrain_max_n: lots\n",
    );
    let lines = dir.load_err(&[]);
    assert_eq!(
        only_error(&lines),
        format!(
            "{}: key `train_max_n`: expected a whole number (0 or more), got string \"lots\"",
            path.display()
        )
    );
}

#[test]
fn invalid_cron_expressions_are_rejected() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ningest_cron_schedule: \"every five minutes\"\n",
    );
    let lines = dir.load_err(&[]);
    let line = only_error(&lines);
    assert!(
        line.starts_with(&format!(
            "{}: key `ingest_cron_schedule`: invalid cron expression `every five minutes`",
            path.display()
        )),
        "{line}"
    );
}

#[test]
fn duplicate_batch_names_across_files_are_an_error() {
    let dir = MetricsDir::new();
    let first = dir.write("one/a.yaml", &batch_yaml("sales"));
    let second = dir.write("two/b.yaml", &batch_yaml("sales"));
    let lines = dir.load_err(&[]);
    assert_eq!(
        only_error(&lines),
        format!(
            "{}: key `metric_batch`: batch `sales` is already defined in {}; batch names must be unique",
            second.display(),
            first.display()
        )
    );
}

#[test]
fn missing_include_files_are_reported_on_the_key_that_includes_them() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a/a.yaml",
        "metric_batch: a\ningest_sql: >\n  {% include \"./a/missing.sql\" %}\n",
    );
    let lines = dir.load_err(&[]);
    let line = only_error(&lines);
    assert!(
        line.starts_with(&format!(
            "{}: key `ingest_sql`: template error:",
            path.display()
        )),
        "{line}"
    );
    assert!(line.contains("./a/missing.sql"), "{line}");
}

#[test]
fn includes_resolve_relative_to_the_metrics_directory() {
    let dir = MetricsDir::new();
    dir.write(
        "a/query.sql",
        "SELECT {{ vars.n }} AS metric_value -- {{ metric_batch }}",
    );
    dir.write(
        "a/a.yaml",
        "metric_batch: a\nvars: {n: 7}\ningest_sql: >\n  {% include \"./a/query.sql\" %}\n",
    );
    let config = dir.load_ok(&[]);
    let sql = render_ingest(&config, "a");
    assert_eq!(sql.trim(), "SELECT 7 AS metric_value -- a");
}

#[test]
fn a_batch_without_any_ingest_is_an_error() {
    let dir = MetricsDir::new();
    let path = dir.write("a.yaml", "metric_batch: a\n");
    let lines = dir.load_err(&[]);
    let line = only_error(&lines);
    assert!(
        line.starts_with(&format!(
            "{}: key `ingest_sql`: the batch has no ingest",
            path.display()
        )),
        "{line}"
    );
    // ...unless ingest is disabled (metrics arrive through the API)
    dir.write("a.yaml", "metric_batch: a\ndisable_ingest: true\n");
    dir.load_ok(&[]);
}

#[test]
fn thresholds_out_of_range_are_rejected() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nalert_threshold: 1.5\nchange_threshold: -1\ntholdalert_thresholds:\n  m: {upper: 1, lower: 5}\n",
    );
    let lines = dir.load_err(&[]);
    let p = path.display().to_string();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines.contains(&format!(
            "{p}: key `alert_threshold`: expected a number between 0 and 1, got 1.5"
        )),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!(
            "{p}: key `change_threshold`: expected a number above 0, got -1"
        )),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!(
            "{p}: key `tholdalert_thresholds`: `m`: lower (5) is above upper (1)"
        )),
        "{lines:#?}"
    );
}

#[test]
fn every_error_of_every_file_is_reported_at_once() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nalert_treshold: 0.9\n",
    );
    dir.write(
        "b.yaml",
        "metric_batch: b\ningest_sql: SELECT 1\ntrain_max_n: lots\n",
    );
    dir.write("c.yaml", "metric_batch: [oops\n");
    let lines = dir.load_err(&[]);
    assert_eq!(lines.len(), 3, "{lines:#?}");
}

#[test]
fn malformed_yaml_is_one_clear_line() {
    let dir = MetricsDir::new();
    let path = dir.write("a.yaml", "metric_batch: a\ningest_sql: [SELECT 1\n");
    let lines = dir.load_err(&[]);
    let line = only_error(&lines);
    assert!(
        line.starts_with(&format!("{}: invalid YAML:", path.display())),
        "{line}"
    );
    assert!(line.contains("line"), "{line}");
    assert!(!line.contains('\n'));
}

#[test]
fn an_unreadable_file_is_one_clear_line() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let link = dir.path().join("broken.yaml");
    std::os::unix::fs::symlink(dir.path().join("does-not-exist.yaml"), &link).unwrap();
    let lines = dir.load_err(&[]);
    let line = only_error(&lines);
    assert!(
        line.starts_with(&format!("{}: cannot read file:", link.display())),
        "{line}"
    );
}

#[test]
fn a_non_utf8_file_is_one_clear_line() {
    let dir = MetricsDir::new();
    let path = dir.write_bytes("a.yaml", b"metric_batch: caf\xe9\ningest_sql: SELECT 1\n");
    let lines = dir.load_err(&[]);
    assert_eq!(
        only_error(&lines),
        format!(
            "{}: not valid UTF-8 (invalid byte at offset 17); save the file as UTF-8",
            path.display()
        )
    );
}

#[test]
fn an_unknown_db_value_is_one_clear_line() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ndb: mysql\n",
    );
    let lines = dir.load_err(&[]);
    let line = only_error(&lines);
    assert!(
        line.starts_with(&format!(
            "{}: key `db`: unknown value `mysql`; expected one of sqlite,",
            path.display()
        )),
        "{line}"
    );
}

#[test]
fn a_missing_metrics_directory_says_how_to_set_it() {
    let dir = MetricsDir::new();
    let env = anomstack::config::EnvVars::default();
    let mut settings = dir.settings(&env);
    settings.metrics_dir = dir.tmp.path().join("nope");
    let err = anomstack::config::load(&settings, &env)
        .err()
        .expect("error");
    assert!(
        err.to_string().contains("set ANOMSTACK_METRICS_DIR"),
        "{err}"
    );
}

#[test]
fn a_disabled_batch_with_problems_only_warns() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ndisable_batch: true\nalert_threshold: 3\n",
    );
    dir.write("b.yaml", &batch_yaml("b"));
    let config = dir.load_ok(&[]);
    assert_eq!(config.batches.len(), 1);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("alert_threshold") && w.contains("disabled"))
    );
}

#[test]
fn ignore_examples_skips_the_examples_folder() {
    let dir = MetricsDir::new();
    dir.write("examples/x/x.yaml", &batch_yaml("x"));
    dir.write("mine/y.yaml", &batch_yaml("y"));
    assert_eq!(dir.load_ok(&[]).batches.len(), 2);
    let config = dir.load_ok(&[("ANOMSTACK_IGNORE_EXAMPLES", "yes")]);
    let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
    assert_eq!(names, ["y"]);
}

#[test]
fn legacy_python_hooks_load_with_a_warning() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\npreprocess_fn: \"def preprocess(df): return df\"\n",
    );
    let config = dir.load_ok(&[]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("`preprocess_fn`"))
    );
}

#[test]
fn a_custom_program_must_exist_next_to_the_batch_file() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a/a.yaml",
        "metric_batch: a\ningest_cmd: ./fetch.sh --fast\n",
    );
    let lines = dir.load_err(&[]);
    assert!(
        only_error(&lines).starts_with(&format!(
            "{}: key `ingest_cmd`: program `./fetch.sh` not found",
            path.display()
        )),
        "{lines:?}"
    );
    dir.write("a/fetch.sh", "#!/bin/sh\n");
    dir.load_ok(&[]);
}

#[test]
fn only_one_ingest_source_may_be_set() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ningest_fn: \"def ingest(): pass\"\n",
    );
    let lines = dir.load_err(&[]);
    assert!(
        only_error(&lines).contains("set only one of ingest_sql, ingest_fn"),
        "{lines:?}"
    );
}

#[test]
fn table_keys_are_sql_names_and_dotted_ones_use_their_last_part() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ntable_key: tmp.metrics\n",
    );
    dir.write(
        "b.yaml",
        "metric_batch: b\ningest_sql: SELECT 1\ntable_key: ANDREWM4894.METRICS.METRICS_B\n",
    );
    let config = dir.load_ok(&[]);
    assert_eq!(config.batch("a").unwrap().spec.table_key, "metrics");
    assert_eq!(config.batch("b").unwrap().spec.table_key, "metrics_b");
    assert!(
        config
            .notes
            .iter()
            .any(|n| n.contains("table_key `tmp.metrics`") && n.contains("table `metrics`")),
        "{:?}",
        config.notes
    );

    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ntable_key: \"tmp.my metrics\"\n",
    );
    let lines = dir.load_err(&[]);
    assert!(
        only_error(&lines).contains("key `table_key`: `tmp.my metrics` is not a SQL table name"),
        "{lines:?}"
    );
}

#[test]
fn the_global_table_key_may_be_dotted() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let config = dir.load_ok(&[("ANOMSTACK_TABLE_KEY", "tmp.metrics")]);
    assert_eq!(config.batch("a").unwrap().spec.table_key, "metrics");
}

#[test]
fn batch_names_that_collide_as_environment_prefixes_are_rejected() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("my-batch"));
    let second = dir.write("b.yaml", &batch_yaml("my_batch"));
    let lines = dir.load_err(&[]);
    assert_eq!(
        only_error(&lines),
        format!(
            "{}: key `metric_batch`: batches `my-batch` and `my_batch` would share the environment prefix ANOMSTACK__MY_BATCH__; rename one",
            second.display()
        )
    );
}

#[test]
fn a_rule_between_two_keys_blames_the_one_that_was_set() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let lines = dir.load_err(&[("ANOMSTACK__A__TRAIN_MAX_N", "10")]);
    assert_eq!(
        only_error(&lines),
        "environment variable ANOMSTACK__A__TRAIN_MAX_N: key `train_min_n`: 14 is above train_max_n (10), so no metric could ever train"
    );
}

#[test]
fn a_symlink_loop_in_the_metrics_folder_does_not_hang() {
    let dir = MetricsDir::new();
    dir.write("a/a.yaml", &batch_yaml("a"));
    std::os::unix::fs::symlink(dir.path(), dir.path().join("a/loop")).unwrap();
    let config = dir.load_ok(&[]);
    assert_eq!(config.batches.len(), 1);
}

#[test]
fn model_configs_entries_are_checked_and_named() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nmodel_configs:\n  - model_name: PCA\n    model_tag: p\n  - model_name: KNN\n    model_tag: k\n    model_params: {n_neighbours: 3}\n  - model_name: LOF\n    model_tag: l\n",
    );
    let lines = dir.load_err(&[]);
    let p = path.display().to_string();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines.contains(&format!("{p}: key `model_configs`: entry 2 (KNN): unknown parameter `n_neighbours`; did you mean `n_neighbors`?")), "{lines:#?}");
    assert!(
        lines[1].contains("entry 3 (LOF): unknown model_name `LOF`"),
        "{lines:#?}"
    );
}

#[test]
fn the_original_model_configs_work_unchanged() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nmodel_configs:\n  - model_name: PCA\n    model_tag: pca_default\n    model_params:\n      contamination: 0.01\n  - model_name: KNN\n    model_tag: knn_default\n    model_params:\n      contamination: 0.01\n",
    );
    let config = dir.load_ok(&[]);
    let models = config.batch("a").unwrap().spec.models().unwrap();
    let names: Vec<(&str, &str)> = models
        .iter()
        .map(|m| (m.tag.as_str(), m.detector.name()))
        .collect();
    assert_eq!(names, [("pca_default", "PCA"), ("knn_default", "KNN")]);
}

#[test]
fn a_model_may_override_the_batch_preprocessing() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\npreprocess_params: {diff_n: 1, lags_n: 5}\nmodel_configs:\n  - model_name: KNN\n    model_tag: level\n    preprocess_params: {diff_n: 0, lags_n: 10}\n  - model_name: PCA\n    model_tag: change\n",
    );
    let config = dir.load_ok(&[]);
    let models = config.batch("a").unwrap().spec.models().unwrap();
    assert_eq!(
        (models[0].preprocess.diff_n, models[0].preprocess.lags_n),
        (0, 10)
    );
    assert_eq!(
        (models[1].preprocess.diff_n, models[1].preprocess.lags_n),
        (1, 5)
    );
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nmodel_configs:\n  - model_name: KNN\n    preprocess_params: {freq: 10min}\n",
    );
    let lines = dir.load_err(&[]);
    assert!(
        only_error(&lines).contains("unknown key `freq`"),
        "{lines:?}"
    );
}

#[cfg(feature = "snowflake")]
#[test]
fn a_batch_on_an_unconfigured_engine_warns_with_the_variable_to_set() {
    let dir = MetricsDir::new();
    dir.write(
        "sf.yaml",
        "metric_batch: sf\ndb: snowflake\ningest_sql: SELECT 1\n",
    );
    let config = dir.load_ok(&[]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("sf.yaml") && w.contains("ANOMSTACK_SNOWFLAKE_ACCOUNT")),
        "{:?}",
        config.warnings
    );
    let config = dir.load_ok(&[
        ("ANOMSTACK_SNOWFLAKE_ACCOUNT", "acct"),
        ("ANOMSTACK_SNOWFLAKE_USER", "u"),
        ("ANOMSTACK_SNOWFLAKE_TOKEN", "t"),
    ]);
    assert!(
        !config.warnings.iter().any(|w| w.contains("snowflake")),
        "{:?}",
        config.warnings
    );
}

/// `.example.env` promises every variable with a comment: each one the code reads is there.
#[test]
fn example_env_lists_every_variable_the_code_reads() {
    // Set by anomstack for programs it runs, or at build time: not for users to set.
    const NOT_SETTINGS: [&str; 4] = [
        "ANOMSTACK_BATCH",
        "ANOMSTACK_RUN_TS",
        "ANOMSTACK_BUILD_COMMIT",
        "ANOMSTACK_BUILD_TIME_UTC",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join(".example.env")).unwrap();
    let mut sources = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut missing = std::collections::BTreeSet::new();
    let mut seen = 0;
    for text in &sources {
        for piece in text.split('"').skip(1).step_by(2) {
            let is_name = |p: &str| {
                ["ANOMSTACK_", "OPENAI_", "OPENROUTER_"]
                    .iter()
                    .any(|prefix| p.starts_with(prefix))
                    && p.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            };
            // `ANOMSTACK__<BATCH>__<KEY>` overrides are a pattern, not variables.
            if !is_name(piece) || piece.starts_with("ANOMSTACK__") || NOT_SETTINGS.contains(&piece)
            {
                continue;
            }
            seen += 1;
            if !example.contains(piece) {
                missing.insert(piece.to_owned());
            }
        }
    }
    assert!(
        seen > 50,
        "found only {seen} variable names: is the scan broken?"
    );
    assert!(missing.is_empty(), "not in .example.env: {missing:?}");
}

#[test]
fn keys_the_original_read_under_other_names_are_aliases() {
    let dir = MetricsDir::new();
    dir.write(
        "defaults/defaults.yaml",
        "preprocess_diff_n: 1\npreprocess_smooth_n: 3\npreprocess_lags_n: 4\nmodel_config:\n  model_name: PCA\n  model_params:\n    contamination: 0.01\nmetric_sql: SELECT 1\ntimegptalert_max_n: 30\n",
    );
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ndisable_alerts: true\n",
    );
    let config = dir.load_ok(&[]);
    let spec = &config.batch("a").unwrap().spec;
    assert!(spec.disable_alert);
    assert_eq!(
        (
            spec.preprocess_params.diff_n,
            spec.preprocess_params.smooth_n,
            spec.preprocess_params.lags_n
        ),
        (1, 3, 4)
    );
    assert_eq!(spec.model_configs.len(), 1);
    assert_eq!(spec.model_configs[0].model_name, "PCA");
    let notes = config.notes.join("\n");
    for expected in [
        "key `disable_alerts` is read as `disable_alert`",
        "key `preprocess_diff_n` is read as `preprocess_params.diff_n`",
        "key `model_config` is read as `model_configs`",
        "keys `metric_sql`, `timegptalert_max_n` of a feature the original Anomstack retired",
    ] {
        assert!(
            notes.contains(expected),
            "missing {expected:?} in:\n{notes}"
        );
    }
    // An alias never beats the key it stands for, set in the same file.
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\ndisable_alerts: true\ndisable_alert: false\n",
    );
    assert!(!dir.load_ok(&[]).batch("a").unwrap().spec.disable_alert);
    // And an environment override may use it too.
    dir.write("a.yaml", &batch_yaml("a"));
    let config = dir.load_ok(&[("ANOMSTACK__A__DISABLE_ALERTS", "yes")]);
    assert!(config.batch("a").unwrap().spec.disable_alert);
}

#[test]
fn custom_keys_are_template_variables_and_unused_ones_are_typos_or_ignored() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\nregion: eu\nowner_team: growth\ningest_sql: \"SELECT '{{ region }}' AS r\"\n",
    );
    let config = dir.load_ok(&[]);
    let sql = render_ingest(&config, "a");
    assert_eq!(sql, "SELECT 'eu' AS r");
    let warnings = config.warnings.join("\n");
    assert!(
        warnings.contains(&format!(
            "{}: key `region` is not an anomstack key; templates see it as {{{{ region }}}}",
            path.display()
        )),
        "{warnings}"
    );
    assert!(
        warnings
            .contains("key `owner_team` is not an anomstack key and no template uses it; ignored"),
        "{warnings}"
    );
    // An override may set a custom key.
    let config = dir.load_ok(&[("ANOMSTACK__A__REGION", "us")]);
    let batch = config.batch("a").unwrap();
    assert_eq!(batch.spec.custom["region"], serde_json::json!("us"));
}

#[test]
fn templates_follow_jinja2_python_methods_and_undefined_variables() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        concat!(
            "metric_batch: a\n",
            "vars: {names: [a, b]}\n",
            "ingest_sql: >\n",
            "  SELECT '{{ ','.join(vars.names) }}', '{{ 'x'.upper() }}', '{{ 'a-b'.replace('-', '_') }}',\n",
            "  '{{ 'a,b'.split(',') | length }}', '{{ '{}!'.format(metric_batch) }}',\n",
            "  '{{ nothing_here }}'{% for k, v in {'k': 1}.items() %}, {{ v }}{% endfor %}\n",
            "  {% if train_exclude_metrics is defined %}, 'defined'{% endif %}\n",
        ),
    );
    let config = dir.load_ok(&[]);
    let sql = render_ingest(&config, "a");
    assert_eq!(sql.trim(), "SELECT 'a,b', 'X', 'a_b', '2', 'a!', '', 1");
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("the template uses `nothing_here`, which no key defines")),
        "{:?}",
        config.warnings
    );
    // A key the original left undefined is defined once it holds something.
    dir.write(
        "a.yaml",
        "metric_batch: a\ntrain_exclude_metrics: [m1, m2]\ningest_sql: \"SELECT {% if train_exclude_metrics is defined %}'{{ ','.join(train_exclude_metrics) }}'{% endif %}\"\n",
    );
    let config = dir.load_ok(&[]);
    let sql = render_ingest(&config, "a");
    assert_eq!(sql, "SELECT 'm1,m2'");
}

#[test]
fn an_invalid_batch_is_reported_and_the_others_still_load() {
    let dir = MetricsDir::new();
    dir.write("good.yaml", &batch_yaml("good"));
    let bad = dir.write(
        "bad.yaml",
        "metric_batch: bad\ningest_sql: SELECT 1\ntrain_max_n: lots\n",
    );
    let config = dir.load(&[]).unwrap();
    assert!(!config.is_valid());
    assert!(config.batch("good").is_some());
    assert!(config.batch("bad").is_none());
    let invalid = config.invalid_batch("bad").unwrap();
    assert_eq!(invalid.file, bad);
    assert!(
        invalid.errors[0]
            .to_string()
            .contains("key `train_max_n`: expected a whole number"),
        "{:?}",
        invalid.errors
    );
}

#[test]
fn a_problem_in_the_defaults_is_reported_once_naming_the_batches_that_inherit_it() {
    let dir = MetricsDir::new();
    let defaults = dir.write("defaults/defaults.yaml", "train_max_n: lots\n");
    dir.write("a.yaml", &batch_yaml("a"));
    dir.write("b.yaml", &batch_yaml("b"));
    dir.write(
        "c.yaml",
        "metric_batch: c\ningest_sql: SELECT 1\ntrain_max_n: 100\n",
    );
    let lines = dir.load_err(&[]);
    assert_eq!(
        only_error(&lines),
        format!(
            "{}: key `train_max_n`: expected a whole number (0 or more), got string \"lots\" (inherited by batches `a`, `b`)",
            defaults.display()
        )
    );
    // The batch that sets its own value is fine.
    assert!(dir.load(&[]).unwrap().batch("c").is_some());
}

const ORIGINAL_ALERT_SQL: &str = concat!(
    "alert_sql: |\n",
    "  with data_ranked as (select *, row_number() over (partition by metric_name order by metric_timestamp desc) as metric_score_recency_rank\n",
    "  from {{ table_key }} where metric_batch = '{{ metric_batch }}' and metric_type = 'score')\n",
    "  select * from data_ranked where metric_score_recency_rank <= {{ alert_max_n }}\n",
);

#[test]
fn an_original_stock_query_in_the_defaults_folder_is_served_by_the_native_one() {
    let dir = MetricsDir::new();
    dir.write("defaults/defaults.yaml", ORIGINAL_ALERT_SQL);
    dir.write("a.yaml", "metric_batch: a\ningest_sql: SELECT 1\n");
    let config = dir.load_ok(&[]);
    let spec = &config.batch("a").unwrap().spec;
    let native = anomstack::config::builtin_defaults_batch("x")
        .unwrap()
        .alert_sql;
    assert_eq!(spec.alert_sql, native);
    assert!(
        config
            .notes
            .iter()
            .any(|n| n.contains("(key `alert_sql`): the original Anomstack's alert query")),
        "{:?}",
        config.notes
    );
}

/// A job query a user edited is theirs: one in a batch's own file, or a delete narrowed to
/// some rows even in the defaults folder, runs as written (the native delete would remove
/// every row older than `delete_after_n_days`).
#[test]
fn an_edited_original_job_query_runs_as_written_with_a_warning() {
    let dir = MetricsDir::new();
    let narrowed = "delete from {{ table_key }} where metric_batch = '{{ metric_batch }}' and metric_type = 'score' and metric_timestamp < current_date - interval '{{ delete_after_n_days }} day'";
    dir.write("defaults/sql/delete.sql", narrowed);
    dir.write(
        "defaults/defaults.yaml",
        "delete_sql: \"{% include './defaults/sql/delete.sql' %}\"\n",
    );
    dir.write(
        "a.yaml",
        &format!("metric_batch: a\ningest_sql: SELECT 1\n{ORIGINAL_ALERT_SQL}"),
    );
    let config = dir.load_ok(&[]);
    let spec = &config.batch("a").unwrap().spec;
    assert!(
        spec.alert_sql.contains("metric_score_recency_rank"),
        "{}",
        spec.alert_sql
    );
    assert!(spec.delete_sql.contains("include"), "{}", spec.delete_sql);
    let warnings = config.warnings.join("\n");
    for job in ["alert", "delete"] {
        assert!(
            warnings.contains(&format!(
                "shaped like the original Anomstack's {job} query but changed"
            )),
            "{warnings}"
        );
    }
    assert!(config.notes.is_empty(), "{:?}", config.notes);
}

#[test]
fn an_engine_this_app_does_not_know_is_fine_for_a_batch_that_does_not_run_sql() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ndb: prometheus\ningest_cmd: echo\n",
    );
    let config = dir.load_ok(&[]);
    assert!(
        config
            .notes
            .iter()
            .any(|n| n.contains("db `prometheus` is only where ingest_sql would run")),
        "{:?}",
        config.notes
    );
}

#[test]
fn duckdb_sql_that_cannot_be_translated_is_found_by_validate() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\nsql_dialect: duckdb\ningest_sql: SELECT interval '1 day' AS x\n",
    );
    let lines = dir.load_err(&[]);
    assert!(
        only_error(&lines)
            .contains("key `ingest_sql`: cannot translate DuckDB's `interval '1 day'` to SQLite"),
        "{lines:?}"
    );
}

#[test]
fn a_dialect_that_cannot_be_translated_for_the_engine_is_an_error() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\ndb: clickhouse\nsql_dialect: duckdb\ningest_sql: SELECT now()\n",
    );
    let lines = dir.load_err(&[]);
    assert!(
        only_error(&lines)
            .contains("key `sql_dialect`: SQL written for duckdb is only translated to SQLite"),
        "{lines:?}"
    );
}

/// A batch whose ingest is off never runs its query: an untranslatable one does not stop
/// its other jobs (it may get its rows from pushes).
#[test]
fn an_untranslatable_query_of_a_batch_that_never_ingests_is_no_error() {
    let dir = MetricsDir::new();
    dir.write(
        "a.yaml",
        "metric_batch: a\nsql_dialect: duckdb\ndisable_ingest: true\ningest_sql: SELECT interval '1 day' AS x\n",
    );
    assert!(dir.load_ok(&[]).batch("a").is_some());
}

/// Batch and tag names have the bound metric names have.
#[test]
fn batch_and_tag_names_over_the_name_limit_are_errors() {
    let dir = MetricsDir::new();
    let long = "b".repeat(201);
    dir.write(
        "a.yaml",
        &format!("metric_batch: {long}\ningest_sql: SELECT 1\n"),
    );
    dir.write(
        "c.yaml",
        &format!(
            "metric_batch: c\ningest_sql: SELECT 1\nmetric_tags:\n  m:\n    {}: x\n",
            "t".repeat(201)
        ),
    );
    let lines = dir.load_err(&[]);
    let all = lines.join("\n");
    assert!(all.contains("at most 200 of them"), "{all}");
    assert!(
        all.contains("key `metric_tags`") && all.contains("201 bytes; the limit is 200"),
        "{all}"
    );
}

#[test]
fn alert_direction_and_noise_floors_are_checked_per_batch_and_per_metric() {
    let dir = MetricsDir::new();
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nalert_direction: sideways\n",
    );
    let lines = dir.load_err(&[]);
    let error = only_error(&lines);
    assert!(
        error.starts_with(&format!("{}: ", path.display())),
        "{error}"
    );
    assert!(
        error.contains("alert_direction") && error.contains("sideways") && error.contains("up"),
        "{error}"
    );
    let path = dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nmetric_alert_settings:\n  m: {alert_min_rel_change: -1}\n",
    );
    let lines = dir.load_err(&[]);
    assert_eq!(
        only_error(&lines),
        format!(
            "{}: key `metric_alert_settings`: `m`: alert_min_rel_change must be at least 0, got -1",
            path.display()
        )
    );
    dir.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nmetric_alert_settings:\n  m: {alert_direction: up, stale_after_n: 6}\n",
    );
    let config = dir.load_ok(&[("ANOMSTACK__A__ALERT_MIN_ABS_CHANGE", "2.5")]);
    let spec = &config.batch("a").unwrap().spec;
    let own = spec.alert_rule_for("m");
    let other = spec.alert_rule_for("n");
    assert_eq!(own.direction, anomstack::detect::Direction::Up);
    assert_eq!(other.direction, anomstack::detect::Direction::Both);
    assert_eq!((own.min_abs_change, other.min_abs_change), (2.5, 2.5));
    assert_eq!(other.min_rel_change, 0.02);
    assert_eq!(
        (spec.stale_after_n_for("m"), spec.stale_after_n_for("n")),
        (6, 3)
    );
}
