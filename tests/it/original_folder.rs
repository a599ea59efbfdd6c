//! A metrics folder of the original Anomstack, run unchanged: `tests/fixtures/original_metrics`
//! reproduces its constructs (its `defaults/` with DuckDB job queries calling Python's `.join`,
//! `db: duckdb`, dotted table keys, custom top-level keys in templates, an `ingest_fn` that
//! imports dagster, a BigQuery batch without credentials). The real binary validates it and
//! runs every offline batch from ingest to alert; the batch that needs credentials fails only
//! when it runs, naming what is missing, and holds up nothing else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anomstack::config::{DatabaseLocation, EnvVars, Settings};
use anomstack::detect::ScoreMethod;
use anomstack::store::{MetricRow, MetricType, Store};
use chrono::Timelike;

/// A copy of the fixture folder as `<tmp>/metrics`, with the app's files beside it.
fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original_metrics");
    copy_dir(&from, &tmp.path().join("metrics"));
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.venv/bin/python")
}

fn anomstack(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anomstack"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("ANOMSTACK_METRICS_DIR", dir.join("metrics"))
        .env("ANOMSTACK_SQLITE_PATH", dir.join("app.db"))
        .env("ANOMSTACK_PYTHON", venv_python())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run anomstack");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn it_validates_and_says_how_it_was_read() {
    let dir = project();
    let (out, text) = anomstack(dir.path(), &["validate"], &[]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok: 4 batches") && !text.contains("error"),
        "{text}"
    );
    for expected in [
        // Stock job queries served by the native ones, once per file.
        "defaults/sql/train.sql: the original Anomstack's train query",
        "defaults/sql/alerts.sql: the original Anomstack's alert query",
        // The calibration its thresholds were chosen for.
        "the original Anomstack's defaults (no `model_score_method`)",
        // Keys read under their names here, and retired ones.
        "key `disable_alerts` is read as `disable_alert`",
        "`disable_timegptalert` of a feature the original Anomstack retired",
        "table_key `tmp.metrics` names a table of another database",
        // Template variables: custom keys, and one nothing defines.
        "key `geos` is not an anomstack key; templates see it as {{ geos }}",
        "the template uses `metric_suffix`, which no key defines",
        // The batch that needs credentials says which.
        "set ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Said once, not once per batch.
    assert_eq!(
        text.matches("the original Anomstack's train query").count(),
        1,
        "{text}"
    );
}

#[test]
fn it_loads_with_the_originals_meaning() {
    let dir = project();
    let env = EnvVars::default();
    let mut settings = Settings::from_env(&env).unwrap();
    settings.metrics_dir = dir.path().join("metrics");
    let config = anomstack::config::load(&settings, &env).unwrap();
    assert!(config.is_valid(), "{}", config.problems());
    let users = config.batch("jinja_users").unwrap();
    assert_eq!(users.spec.model_score_method, ScoreMethod::Linear);
    assert_eq!(users.spec.table_key, "metrics_jinja_users");
    assert!(!users.spec.disable_alert);
    assert!(users.spec.custom.contains_key("geos"));
    let sales = config.batch("duck_sales").unwrap();
    assert_eq!(sales.spec.table_key, "metrics");
    assert_eq!(sales.spec.alert_threshold, 0.8);
    // The native training query, not the original's (which held the newest points out).
    let run_ts = chrono::Utc::now();
    let train = config
        .templates
        .render(&sales.spec.train_sql, &sales.spec, run_ts)
        .unwrap();
    assert!(
        !train.contains("metric_recency_rank") && train.contains("WITH RECURSIVE"),
        "{train}"
    );
    // The custom keys render as the original rendered them.
    let ingest = config
        .templates
        .render(
            users.spec.ingest_sql.as_deref().unwrap(),
            &users.spec,
            run_ts,
        )
        .unwrap();
    assert!(ingest.contains("'users_active_ireland'"), "{ingest}");
    assert!(ingest.contains("'users_regions'"), "{ingest}");
    assert!(ingest.contains("'IRELAND,USA,EU'"), "{ingest}");
}

/// Backfills three hours, then runs the pipeline once; returns its output.
fn backfill_and_run(dir: &Path, batch: &str, env: &[(&str, &str)]) -> String {
    let from = (chrono::Utc::now() - chrono::Duration::hours(3))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let (out, text) = anomstack(dir, &["backfill", batch, "--from", &from], env);
    assert!(out.status.success(), "backfill {batch}: {text}");
    let (out, text) = anomstack(dir, &["run", "pipeline", batch], env);
    assert!(out.status.success(), "pipeline {batch}: {text}");
    for step in ["ingest: read", "train: read", "score: read", "alert: read"] {
        assert!(text.contains(step), "{batch}: no {step:?} in:\n{text}");
    }
    assert!(
        !text.contains("trained 0 model(s)"),
        "{batch} trained nothing:\n{text}"
    );
    text
}

#[test]
fn every_offline_batch_runs_from_ingest_to_alert() {
    let dir = project();
    for batch in ["duck_sales", "jinja_users"] {
        backfill_and_run(dir.path(), batch, &[]);
    }
    // The same DuckDB SQL translated for SQLite and run on the app database: what a build
    // without DuckDB (the default one) does with `db: duckdb`.
    let text = backfill_and_run(
        dir.path(),
        "duck_sales",
        &[
            ("ANOMSTACK__DUCK_SALES__DB", "sqlite"),
            ("ANOMSTACK__DUCK_SALES__SQL_DIALECT", "duckdb"),
        ],
    );
    assert!(
        text.contains("ingest_sql translated from DuckDB to SQLite"),
        "{text}"
    );
}

#[tokio::test]
async fn a_python_batch_importing_dagster_runs_from_ingest_to_alert() {
    let dir = project();
    // A Python ingest reads the wall clock, so history is written directly: 40 points.
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.path().join("app.db"),
    })
    .await
    .unwrap();
    store
        .ensure_metrics_table("metrics_py_simple")
        .await
        .unwrap();
    let now = chrono::Utc::now().naive_utc();
    let rows: Vec<MetricRow> = (1..=40)
        .flat_map(|i| {
            (1..=3).map(move |m| MetricRow {
                timestamp: (now - chrono::Duration::minutes(10 * i))
                    .with_nanosecond(0)
                    .unwrap(),
                batch: "py_simple".into(),
                name: format!("metric{m}"),
                metric_type: MetricType::Metric,
                value: ((i * 7 + m * 3) % 10) as f64,
                metadata: String::new(),
            })
        })
        .collect();
    store
        .upsert_metrics("metrics_py_simple", &rows)
        .await
        .unwrap();
    drop(store);
    let (out, text) = anomstack(dir.path(), &["run", "pipeline", "py_simple"], &[]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ingest: read 3 row(s), wrote 3"), "{text}");
    // The stand-in dagster logger writes to the run log.
    assert!(text.contains("ingested 3 metrics"), "{text}");
    assert!(
        text.contains("trained 6 model(s) for 3 metric(s)"),
        "{text}"
    );
    assert!(text.contains("alert: read"), "{text}");
}

#[test]
fn a_batch_without_credentials_fails_only_when_it_runs() {
    let dir = project();
    let (out, text) = anomstack(dir.path(), &["run", "ingest", "bq_daily"], &[]);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS"),
        "{text}"
    );
    // Nothing else is held up.
    let (out, text) = anomstack(dir.path(), &["run", "ingest", "jinja_users"], &[]);
    assert!(out.status.success(), "{text}");
}
