//! The shipped examples and default SQL templates, run for real against a libsql database.

use anomstack::config::{self, Batch, Config, EnvVars, Settings};
use anomstack::store::{MetricRow, MetricType, Store};
use chrono::{Duration, TimeZone, Utc};

use crate::store_local::{count, row};
use crate::support::repo_metrics_dir;

pub(crate) fn repo_config(env: &[(&str, &str)]) -> Config {
    let env = EnvVars::from_pairs(env.iter().copied());
    let mut settings = Settings::from_env(&env).unwrap();
    settings.metrics_dir = repo_metrics_dir();
    match config::load(&settings, &env) {
        Ok(c) if c.is_valid() => c,
        Ok(c) => panic!("the shipped metrics folder must load:\n{}", c.problems()),
        Err(e) => panic!("the shipped metrics folder must load:\n{e}"),
    }
}

pub(crate) async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&anomstack::config::DatabaseLocation::Local {
        path: dir.path().join("app.db"),
    })
    .await
    .unwrap();
    (dir, store)
}

/// Renders and runs a batch's ingest_sql at `minutes` consecutive run times.
async fn ingest_runs(
    config: &Config,
    batch: &Batch,
    store: &Store,
    minutes: i64,
) -> Vec<Vec<MetricRow>> {
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap();
    let mut runs = Vec::new();
    for i in 0..minutes {
        let at = start + Duration::minutes(i);
        let sql = config
            .templates
            .render(batch.spec.ingest_sql.as_deref().unwrap(), &batch.spec, at)
            .unwrap();
        let rows = store
            .query_long_rows(batch.name(), &sql, "example ingest")
            .await
            .unwrap_or_else(|e| panic!("{}: {e}\n{sql}", batch.name()));
        assert!(rows.iter().all(|r| r.timestamp == at.naive_utc()));
        runs.push(rows);
    }
    runs
}

#[test]
fn the_shipped_metrics_folder_loads_with_its_offline_examples_running() {
    let config = repo_config(&[]);
    let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
    for expected in ["simple", "sales", "users", "freq", "cmd_ingest"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for batch in &config.batches {
        let ingest = batch.spec.schedule(anomstack::config::BatchJob::Ingest);
        assert_eq!(
            ingest.default_status,
            anomstack::config::ScheduleStatus::Running,
            "{} should ingest out of the box",
            batch.name()
        );
    }
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[tokio::test]
async fn the_simple_example_is_uniform_between_0_and_10_when_calm() {
    let config = repo_config(&[(
        "ANOMSTACK__SIMPLE__VARS",
        r#"{"anomaly_chance_pct": 0, "daily_anomalies": false}"#,
    )]);
    let batch = config.batch("simple").unwrap();
    let (_dir, store) = temp_store().await;
    for run in ingest_runs(&config, batch, &store, 50).await {
        let names: Vec<&str> = run.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["metric1", "metric2", "metric3", "metric4", "metric5"]
        );
        assert!(
            run.iter().all(|r| (0.0..10.0).contains(&r.value)),
            "{run:?}"
        );
    }
}

#[tokio::test]
async fn the_simple_example_spikes_drops_or_plateaus_all_five_metrics_together() {
    let config = repo_config(&[("ANOMSTACK__SIMPLE__VARS", r#"{"anomaly_chance_pct": 100}"#)]);
    let batch = config.batch("simple").unwrap();
    let (_dir, store) = temp_store().await;
    let mut kinds = std::collections::BTreeSet::new();
    for run in ingest_runs(&config, batch, &store, 90).await {
        let values: Vec<f64> = run.iter().map(|r| r.value).collect();
        let kind = if values.iter().all(|v| (15.0..=30.0).contains(v)) {
            "spike"
        } else if values.iter().all(|v| (-10.0..=-1.0).contains(v)) {
            "drop"
        } else if values
            .iter()
            .all(|v| *v == values[0] && (5.0..=6.0).contains(v))
        {
            "plateau"
        } else {
            panic!("a run that is neither spike, drop nor plateau: {values:?}")
        };
        kinds.insert(kind);
    }
    assert_eq!(
        kinds.len(),
        3,
        "all three anomaly kinds appear in 90 runs: {kinds:?}"
    );
}

#[tokio::test]
async fn the_simple_example_has_a_spike_a_drop_and_a_plateau_every_day_at_fixed_times() {
    let config = repo_config(&[("ANOMSTACK__SIMPLE__VARS", r#"{"anomaly_chance_pct": 0}"#)]);
    let batch = config.batch("simple").unwrap();
    let (_dir, store) = temp_store().await;
    let day = Utc.with_ymd_and_hms(2024, 5, 6, 0, 0, 0).single().unwrap();
    let run_at = |h: u32, m: u32| {
        let at = day + Duration::hours(i64::from(h)) + Duration::minutes(i64::from(m));
        let sql = config
            .templates
            .render(batch.spec.ingest_sql.as_deref().unwrap(), &batch.spec, at)
            .unwrap();
        let store = store.clone();
        async move {
            store
                .query_long_rows("simple", &sql, "example ingest")
                .await
                .unwrap()
                .iter()
                .map(|r| r.value)
                .collect::<Vec<f64>>()
        }
    };
    let spike = run_at(3, 24).await;
    assert!(spike.iter().all(|v| (15.0..=30.0).contains(v)), "{spike:?}");
    let drop = run_at(12, 30).await;
    assert!(drop.iter().all(|v| (-10.0..=-1.0).contains(v)), "{drop:?}");
    let plateau = run_at(18, 9).await;
    assert!(
        plateau
            .iter()
            .all(|v| *v == plateau[0] && (5.0..=6.0).contains(v)),
        "{plateau:?}"
    );
    for (h, m) in [(3, 19), (3, 30), (12, 40), (18, 10), (9, 0)] {
        let calm = run_at(h, m).await;
        assert!(
            calm.iter().all(|v| (0.0..10.0).contains(v)),
            "{h}:{m} {calm:?}"
        );
    }
}

#[tokio::test]
async fn the_sales_and_users_examples_produce_their_metrics() {
    let config = repo_config(&[]);
    let (_dir, store) = temp_store().await;
    let sales = ingest_runs(&config, config.batch("sales").unwrap(), &store, 3).await;
    for run in &sales {
        let created = run
            .iter()
            .find(|r| r.name == "sales_pipeline_deals_created")
            .unwrap()
            .value;
        let sold = run
            .iter()
            .find(|r| r.name == "sales_pipeline_deals_sold")
            .unwrap()
            .value;
        let rate = run
            .iter()
            .find(|r| r.name == "sales_pipeline_success_rate")
            .unwrap()
            .value;
        assert!((0.0..2.0).contains(&created) && (0.0..1.0).contains(&sold));
        assert!(
            (rate - sold / created).abs() < 1e-9,
            "rate is sold / created"
        );
    }
    let users = ingest_runs(&config, config.batch("users").unwrap(), &store, 2).await;
    assert_eq!(users[0].len(), 9);
    assert!(users[0].iter().any(|r| r.name == "users_active_rate_eu"));

    // The region list is a template variable an operator can override.
    let config = repo_config(&[("ANOMSTACK__USERS__VARS", r#"{"geos": ["japan"]}"#)]);
    let users = ingest_runs(&config, config.batch("users").unwrap(), &store, 1).await;
    let names: Vec<&str> = users[0].iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "users_total_japan",
            "users_active_japan",
            "users_active_rate_japan"
        ]
    );
}

#[tokio::test]
async fn the_default_job_templates_are_valid_sqlite_and_select_their_windows() {
    let config = repo_config(&[
        ("ANOMSTACK__SALES__TRAIN_MAX_N", "20"),
        ("ANOMSTACK__SALES__SCORE_MAX_N", "5"),
        ("ANOMSTACK__SALES__TRAIN_EXCLUDE_METRICS", "[excluded]"),
    ]);
    let batch = config.batch("sales").unwrap();
    let spec = &batch.spec;
    let (_dir, store) = temp_store().await;

    // 100 minutes of two metrics, scores on the last 3 points of `m`, and old rows.
    let run_ts = Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).single().unwrap();
    let mut rows = Vec::new();
    for name in ["m", "excluded"] {
        for i in 0..100 {
            let t = (run_ts - Duration::minutes(i)).naive_utc();
            let mut r = row(name, "2024-01-01 00:00:00", MetricType::Metric, i as f64);
            r.timestamp = t;
            r.batch = "sales".into();
            rows.push(r);
            if name == "m" && i < 3 {
                let mut s = r_clone(&rows);
                s.metric_type = MetricType::Score;
                s.value = 0.5;
                rows.push(s);
            }
        }
    }
    let mut old = row("m", "2020-01-01 00:00:00", MetricType::Metric, 1.0);
    old.batch = "sales".into();
    rows.push(old);
    let mut future = row("m", "2024-06-02 00:00:00", MetricType::Metric, 1.0);
    future.batch = "sales".into();
    rows.push(future);
    store.upsert_metrics("metrics", &rows).await.unwrap();

    let render = |sql: &str| config.templates.render(sql, spec, run_ts).unwrap();

    let train = store
        .query_long_rows("sales", &render(&spec.train_sql), "train")
        .await
        .unwrap();
    assert_eq!(train.len(), 20, "train_max_n newest points of m only");
    assert!(
        train
            .iter()
            .all(|r| r.name == "m" && r.timestamp <= run_ts.naive_utc())
    );

    let score = store
        .query_long_rows("sales", &render(&spec.score_sql), "score")
        .await
        .unwrap();
    let metrics = score
        .iter()
        .filter(|r| r.metric_type == MetricType::Metric)
        .count();
    let scores = score
        .iter()
        .filter(|r| r.metric_type == MetricType::Score)
        .count();
    assert_eq!(
        (metrics, scores),
        (10, 3),
        "5 newest values of each metric, plus m's 3 scores"
    );

    for (key, sql) in [
        ("alert_sql", &spec.alert_sql),
        ("change_sql", &spec.change_sql),
        ("llmalert_sql", &spec.llmalert_sql),
        ("plot_sql", &spec.plot_sql),
    ] {
        let got = store.query_long_rows("sales", &render(sql), key).await;
        assert!(got.is_ok(), "{key}: {got:?}");
    }
    let alert = store
        .query_long_rows("sales", &render(&spec.alert_sql), "alert")
        .await
        .unwrap();
    assert_eq!(
        alert.len(),
        6,
        "the 3 scored timestamps, with value and score each"
    );

    store.check_sql(&render(&spec.summary_sql)).await.unwrap();
    let conn = store.connect().await.unwrap();
    let deleted = conn.execute(&render(&spec.delete_sql), ()).await.unwrap();
    assert_eq!(deleted, 1, "only the row older than delete_after_n_days");
    assert!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_timestamp < '2021-01-01'"
        )
        .await
            == 0
    );
}

fn r_clone(rows: &[MetricRow]) -> MetricRow {
    rows.last().cloned().unwrap()
}
