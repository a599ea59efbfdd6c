//! The jobs end to end on a real database file: ingest (with threshold alerts), train,
//! score, alert, change, delete, run history, and the CLI's `run` and `backfill`.

use anomstack::config::{BatchJob, DatabaseLocation};
use anomstack::jobs::{self, JobCtx, Trigger};
use anomstack::store::{Feedback, MetricType, RunStatus, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::store_local::count;
use crate::support::MetricsDir;
use crate::support::sqld::Sqld;

/// A batch whose ingest reads the points of the five minutes up to the run time from a
/// `src` table the test fills, so the test controls every value.
const BATCH: &str = r#"metric_batch: t
ingest_sql: >
  SELECT ts AS metric_timestamp, name AS metric_name, value AS metric_value FROM src
  WHERE ts <= {{ run_ts | sql_quote }} AND ts > datetime({{ run_ts | sql_quote }}, '-5 minutes')
alert_smooth_n: 1
disable_tholdalert: false
tholdalert_thresholds:
  m: {upper: 100}
"#;

fn t(i: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap() + Duration::minutes(5 * i)
}

fn noise(i: i64) -> f64 {
    let mut s = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    s ^= s >> 33;
    10.0 + (s % 1000) as f64 / 1000.0
}

async fn put(store: &Store, i: i64, name: &str, value: f64) {
    store
        .execute(
            &format!(
                "INSERT INTO src VALUES ('{}', '{name}', {value})",
                t(i).format("%Y-%m-%d %H:%M:%S")
            ),
            "test insert",
        )
        .await
        .unwrap();
}

async fn rows_of(store: &Store, kind: MetricType, name: &str) -> Vec<(String, f64, String)> {
    let result = store
        .query(
            &format!(
                "SELECT metric_timestamp, metric_value, metadata FROM metrics WHERE metric_type = '{}' AND metric_name = '{name}' ORDER BY metric_timestamp",
                kind.as_str()
            ),
            "test read",
        )
        .await
        .unwrap();
    result
        .rows
        .iter()
        .map(|r| {
            let text = |v: &anomstack::store::Value| match v {
                anomstack::store::Value::Text(s) => s.clone(),
                _ => String::new(),
            };
            let value = match r[1] {
                anomstack::store::Value::Real(v) => v,
                anomstack::store::Value::Integer(v) => v as f64,
                _ => f64::NAN,
            };
            (text(&r[0]), value, text(&r[2]))
        })
        .collect()
}

#[tokio::test]
async fn the_pipeline_scores_alerts_once_detects_changes_and_threshold_breaches() {
    pipeline_on(|dir| DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await;
}

/// The same pipeline with the app database on a real libSQL server (what Turso runs),
/// reached over HTTP.
#[tokio::test]
async fn the_pipeline_runs_the_same_on_a_remote_libsql_server() {
    let server = Sqld::start_with_auth().await;
    pipeline_on(|_| crate::store_remote::remote(&server, &server.token())).await;
}

/// The same pipeline on an embedded replica of it: reads local, writes forwarded.
#[tokio::test]
async fn the_pipeline_runs_the_same_on_an_embedded_replica() {
    let server = Sqld::start_with_auth().await;
    pipeline_on(|dir| {
        crate::store_remote::replica(&server, &server.token(), dir.tmp.path().join("replica.db"))
    })
    .await;
}

async fn pipeline_on(location: impl Fn(&MetricsDir) -> DatabaseLocation) {
    let dir = MetricsDir::new();
    let models = dir.tmp.path().join("models");
    dir.write(
        "t.yaml",
        &format!("{BATCH}model_path: local://{}\n", models.display()),
    );
    let config = dir.load_ok(&[]);
    let batch = config.batch("t").unwrap();
    let store = Store::open(&location(&dir)).await.unwrap();
    store
        .execute("CREATE TABLE src (ts TEXT, name TEXT, value REAL)", "test")
        .await
        .unwrap();
    for i in 0..400 {
        put(&store, i, "m", noise(i)).await;
        put(&store, i, "shift", noise(i + 7)).await;
    }
    let ctx = |i: i64| JobCtx::new(store.clone(), config.templates.clone(), t(i));
    let times: Vec<_> = (0..400).map(t).collect();
    jobs::backfill(&ctx(399), batch, &times, Trigger::Backfill, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'metric'"
        )
        .await,
        800
    );
    assert!(
        models.join("t/m_knn_default.json").exists(),
        "models are stored"
    );
    // Each step is a recorded run, with what it stored.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE job = 'ingest' AND status = 'succeeded' AND rows_written = 2"
        )
        .await,
        400
    );
    assert!(
        rows_of(&store, MetricType::TholdAlert, "m")
            .await
            .is_empty()
    );

    // A spike on m (also above its threshold) and a level shift on `shift`.
    put(&store, 400, "m", 150.0).await;
    put(&store, 400, "shift", 50.0).await;
    for job in [
        BatchJob::Ingest,
        BatchJob::Score,
        BatchJob::Alert,
        BatchJob::Change,
    ] {
        jobs::run_recorded(&ctx(400), batch, job, Trigger::Schedule)
            .await
            .unwrap();
    }
    let at = t(400).format("%Y-%m-%d %H:%M:%S").to_string();
    // The backfilled history was scored walk-forward and may hold alerts of its own; the
    // live runs are judged from here on.
    let history_alerts = rows_of(&store, MetricType::Alert, "m")
        .await
        .iter()
        .filter(|a| a.0 < at)
        .count();
    let alerts: Vec<_> = rows_of(&store, MetricType::Alert, "m")
        .await
        .into_iter()
        .filter(|a| a.0 >= at)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!((alerts[0].0.as_str(), alerts[0].1), (at.as_str(), 1.0));
    let thold = rows_of(&store, MetricType::TholdAlert, "m").await;
    assert_eq!(thold.len(), 1);
    let meta: serde_json::Value = serde_json::from_str(&thold[0].2).unwrap();
    assert_eq!(meta["breached_threshold_type"], "upper");
    assert_eq!(meta["breached_threshold_value"], 100.0);
    assert_eq!(meta["metric_value_at_breach"], 150.0);
    let changes = rows_of(&store, MetricType::Change, "shift").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0, at);

    // The next two runs do not alert again (snooze), nor change again.
    for i in 401..403 {
        put(&store, i, "m", noise(i)).await;
        put(&store, i, "shift", 50.0 + noise(i) - 10.0).await;
        for job in [
            BatchJob::Ingest,
            BatchJob::Score,
            BatchJob::Alert,
            BatchJob::Change,
        ] {
            jobs::run_recorded(&ctx(i), batch, job, Trigger::Schedule)
                .await
                .unwrap();
        }
    }
    assert_eq!(
        rows_of(&store, MetricType::Alert, "m").await.len(),
        history_alerts + 1
    );
    assert_eq!(rows_of(&store, MetricType::Change, "shift").await.len(), 1);

    // Scoring again writes nothing new: one score per timestamp, all in [0, 1].
    for _ in 0..3 {
        jobs::run_recorded(&ctx(402), batch, BatchJob::Score, Trigger::Cli)
            .await
            .unwrap();
    }
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM (SELECT metric_name, metric_timestamp FROM metrics WHERE metric_type = 'score' GROUP BY 1, 2 HAVING count(*) > 1)"
        )
        .await,
        0
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM metrics WHERE metric_type = 'score' AND (metric_value < 0 OR metric_value > 1)").await,
        0
    );
    assert!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'score'"
        )
        .await
            >= 30
    );

    // Every run is recorded.
    let runs = store.recent_runs(Some("t"), 100).await.unwrap();
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Succeeded),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .any(|r| r.job == "alert" && r.trigger == "schedule")
    );

    // Retention removes rows older than delete_after_n_days (here all of them, a year on).
    let later = ctx(0).at(t(0) + Duration::days(400));
    let report = jobs::run_recorded(&later, batch, BatchJob::Delete, Trigger::Cli)
        .await
        .unwrap();
    assert!(report.rows_written > 800);
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 0);
}

/// The issue's case: three noisy metrics (10 to 20) with a day of history on the shipped
/// alert rule (smoothing 2), then live ingest → score → alert steps. A 500× jump alerts on
/// its own timestamp in the run that scores it, once; a drop on a metric that only alerts
/// upwards does not alert, the same drop on one that alerts both ways does.
#[tokio::test]
async fn an_extreme_point_alerts_at_once_and_direction_is_respected() {
    let dir = MetricsDir::new();
    let models = dir.tmp.path().join("models");
    dir.write(
        "hold.yaml",
        &format!(
            r#"metric_batch: hold
ingest_sql: >
  SELECT ts AS metric_timestamp, name AS metric_name, value AS metric_value FROM src
  WHERE ts <= {{{{ run_ts | sql_quote }}}} AND ts > datetime({{{{ run_ts | sql_quote }}}}, '-5 minutes')
metric_alert_settings:
  hold_m2: {{alert_direction: up}}
model_path: local://{}
"#,
            models.display()
        ),
    );
    let config = dir.load_ok(&[]);
    let batch = config.batch("hold").unwrap();
    assert_eq!(batch.spec.alert_smooth_n, 2, "the shipped smoothing");
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    store
        .execute("CREATE TABLE src (ts TEXT, name TEXT, value REAL)", "test")
        .await
        .unwrap();
    let wide = |i: i64| 10.0 + (noise(i) - 10.0) * 10.0;
    let names = ["hold_m1", "hold_m2", "hold_m3"];
    for i in 0..288 {
        for (k, name) in names.iter().enumerate() {
            put(&store, i, name, wide(i * 3 + k as i64)).await;
        }
    }
    let ctx = |i: i64| JobCtx::new(store.clone(), config.templates.clone(), t(i));
    let times: Vec<_> = (0..288).map(t).collect();
    jobs::backfill(&ctx(287), batch, &times, Trigger::Backfill, &|_| {})
        .await
        .unwrap();
    let live = |i: i64| t(i).format("%Y-%m-%d %H:%M:%S").to_string();
    let alerts_since = |name: &'static str, from: i64| {
        let store = store.clone();
        async move {
            rows_of(&store, MetricType::Alert, name)
                .await
                .into_iter()
                .filter(|a| a.0 >= live(from))
                .collect::<Vec<_>>()
        }
    };
    for i in 288..292 {
        let spike = i == 288;
        put(
            &store,
            i,
            "hold_m1",
            if spike { 5000.0 } else { wide(i * 3) },
        )
        .await;
        put(
            &store,
            i,
            "hold_m2",
            if spike { -5000.0 } else { wide(i * 3 + 1) },
        )
        .await;
        put(
            &store,
            i,
            "hold_m3",
            if spike { -5000.0 } else { wide(i * 3 + 2) },
        )
        .await;
        for job in [BatchJob::Ingest, BatchJob::Score, BatchJob::Alert] {
            jobs::run_recorded(&ctx(i), batch, job, Trigger::Schedule)
                .await
                .unwrap();
        }
        if spike {
            // Alerted in the very run that scored the spike.
            let m1 = alerts_since("hold_m1", 288).await;
            assert_eq!(m1.len(), 1, "{m1:?}");
            assert_eq!(m1[0].0, live(288));
            assert_eq!(m1[0].2, r#"{"extreme":true}"#);
            let score = rows_of(&store, MetricType::Score, "hold_m1").await;
            let spike_score = score.iter().find(|s| s.0 == live(288)).unwrap();
            assert_eq!(spike_score.1, 1.0);
            let notes: serde_json::Value = serde_json::from_str(&spike_score.2).unwrap();
            assert_eq!(notes["extreme"], true);
            assert!(notes["level"].as_f64().unwrap() > 10.0, "{notes}");
        }
    }
    // Once, and only where the direction allows.
    assert_eq!(alerts_since("hold_m1", 288).await.len(), 1);
    assert_eq!(alerts_since("hold_m2", 288).await, vec![]);
    let m3 = alerts_since("hold_m3", 288).await;
    assert_eq!(m3.len(), 1, "{m3:?}");
    assert_eq!(m3[0].0, live(288));
}

/// Alerts that learn, end to end: two metrics alike get the same spike; a 👎 on the first
/// one's alert mutes its next spike of the same size, while the second metric, without
/// feedback, alerts on it; a much bigger spike alerts on both.
#[tokio::test]
async fn a_rejected_alert_mutes_alerts_like_it_and_not_bigger_ones() {
    let dir = MetricsDir::new();
    let models = dir.tmp.path().join("models");
    dir.write(
        "fb.yaml",
        &format!(
            r#"metric_batch: fb
ingest_sql: >
  SELECT ts AS metric_timestamp, name AS metric_name, value AS metric_value FROM src
  WHERE ts <= {{{{ run_ts | sql_quote }}}} AND ts > datetime({{{{ run_ts | sql_quote }}}}, '-5 minutes')
alert_snooze_n: 3
alert_resolve_n: 2
model_path: local://{}
"#,
            models.display()
        ),
    );
    let config = dir.load_ok(&[]);
    let batch = config.batch("fb").unwrap();
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    store
        .execute("CREATE TABLE src (ts TEXT, name TEXT, value REAL)", "test")
        .await
        .unwrap();
    let names = ["fb_taught", "fb_untaught"];
    for i in 0..288 {
        for name in names {
            put(&store, i, name, noise(i)).await;
        }
    }
    let ctx = |i: i64| JobCtx::new(store.clone(), config.templates.clone(), t(i));
    let times: Vec<_> = (0..288).map(t).collect();
    jobs::backfill(&ctx(287), batch, &times, Trigger::Backfill, &|_| {})
        .await
        .unwrap();
    let live = |i: i64| t(i).format("%Y-%m-%d %H:%M:%S").to_string();
    let alerted_at = |name: &'static str| {
        let store = store.clone();
        async move {
            rows_of(&store, MetricType::Alert, name)
                .await
                .into_iter()
                .map(|a| a.0)
                .filter(|at| *at >= live(288))
                .collect::<Vec<_>>()
        }
    };
    let spikes = [(288, 20.0), (305, 20.0), (322, 60.0)];
    for i in 288..335 {
        let value = spikes.iter().find(|s| s.0 == i).map_or(noise(i), |s| s.1);
        for name in names {
            put(&store, i, name, value).await;
        }
        for job in [BatchJob::Ingest, BatchJob::Score, BatchJob::Alert] {
            jobs::run_recorded(&ctx(i), batch, job, Trigger::Schedule)
                .await
                .unwrap();
        }
        if i == 288 {
            assert_eq!(alerted_at("fb_taught").await, vec![live(288)]);
            store
                .set_feedback(
                    "metrics",
                    "fb",
                    "fb_taught",
                    t(288).naive_utc(),
                    Some(Feedback::Down),
                )
                .await
                .unwrap();
        }
    }
    assert_eq!(
        alerted_at("fb_untaught").await,
        vec![live(288), live(305), live(322)],
        "without feedback every spike alerts"
    );
    assert_eq!(
        alerted_at("fb_taught").await,
        vec![live(288), live(322)],
        "the spike like the rejected one is muted, the bigger one is not"
    );

    // A 👍 keeps the confirmed point out of training: every row whose window holds it (the
    // point and the 10 after it, with the shipped 11-value windows).
    store
        .set_feedback(
            "metrics",
            "fb",
            "fb_untaught",
            t(322).naive_utc(),
            Some(Feedback::Up),
        )
        .await
        .unwrap();
    jobs::run_recorded(&ctx(334), batch, BatchJob::Train, Trigger::Schedule)
        .await
        .unwrap();
    let models = anomstack::model_store::ModelStore::from_path(
        &format!("local://{}", models.display()),
        &store,
        &Default::default(),
    )
    .unwrap();
    let rows = |metric: &'static str| {
        let models = &models;
        async move {
            let bytes = models
                .load("fb", metric, "knn_default")
                .await
                .unwrap()
                .unwrap();
            anomstack::detect::TrainedModel::from_json(&bytes)
                .unwrap()
                .training
                .rows
        }
    };
    assert_eq!(rows("fb_taught").await - rows("fb_untaught").await, 11);
}

#[tokio::test]
async fn a_metric_without_a_model_is_skipped_not_failed_and_a_failing_job_is_recorded() {
    let dir = MetricsDir::new();
    dir.write(
        "t.yaml",
        &format!(
            "{BATCH}model_path: local://{}\n",
            dir.tmp.path().join("models").display()
        ),
    );
    let config = dir.load_ok(&[]);
    let batch = config.batch("t").unwrap();
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    let ctx = JobCtx::new(store.clone(), config.templates.clone(), t(10));
    // No src table: ingest fails and says why.
    let err = jobs::run_recorded(&ctx, batch, BatchJob::Ingest, Trigger::Cli)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such table: src"), "{err}");
    let runs = store.recent_runs(Some("t"), 1).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert!(runs[0].error.as_deref().unwrap_or_default().contains("src"));

    store
        .execute("CREATE TABLE src (ts TEXT, name TEXT, value REAL)", "t")
        .await
        .unwrap();
    for i in 0..10 {
        put(&store, i, "m", noise(i)).await;
        let c = ctx.clone().at(t(i));
        jobs::run_recorded(&c, batch, BatchJob::Ingest, Trigger::Cli)
            .await
            .unwrap();
    }
    let report = jobs::run_recorded(&ctx, batch, BatchJob::Score, Trigger::Cli)
        .await
        .unwrap();
    assert_eq!(report.rows_written, 0);
    assert!(
        report.skipped.iter().any(|s| s.contains("no model yet")),
        "{:?}",
        report.skipped
    );
    let report = jobs::run_recorded(&ctx, batch, BatchJob::Train, Trigger::Cli)
        .await
        .unwrap();
    assert!(
        report.skipped.iter().any(|s| s.contains("train_min_n")),
        "{:?}",
        report.skipped
    );
}

/// Training reads a metric's series while fitting the ones already read. A custom
/// `train_sql` that interleaves metrics (ordered by time) must still train every model on its
/// whole series, exactly as the default grouped window does.
#[tokio::test]
async fn a_train_sql_that_interleaves_metrics_trains_on_whole_series() {
    let dir = MetricsDir::new();
    let grouped = dir.tmp.path().join("grouped");
    let interleaved = dir.tmp.path().join("interleaved");
    dir.write(
        "g.yaml",
        &format!("{BATCH}model_path: local://{}\n", grouped.display())
            .replace("batch: t", "batch: g"),
    );
    dir.write(
        "i.yaml",
        &format!(
            "{BATCH}model_path: local://{}\ntrain_sql: >\n  SELECT metric_timestamp, metric_name, metric_value, metric_type FROM metrics\n  WHERE metric_batch = 'g' AND metric_type = 'metric' ORDER BY metric_timestamp, metric_name\n",
            interleaved.display()
        )
        .replace("batch: t", "batch: i"),
    );
    let config = dir.load_ok(&[]);
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    let names: Vec<String> = (0..70).map(|m| format!("m{m:02}")).collect();
    let rows: Vec<anomstack::store::MetricRow> = (0..60)
        .flat_map(|i| {
            names
                .iter()
                .enumerate()
                .map(move |(m, name)| anomstack::store::MetricRow {
                    timestamp: t(i).naive_utc(),
                    batch: "g".into(),
                    name: name.clone(),
                    metric_type: MetricType::Metric,
                    value: noise(i * 70 + m as i64),
                    metadata: String::new(),
                })
        })
        .collect();
    store.upsert_metrics("metrics", &rows).await.unwrap();
    let ctx = JobCtx::new(store.clone(), config.templates.clone(), t(59));
    for (batch, folder) in [("g", &grouped), ("i", &interleaved)] {
        let report = jobs::run_recorded(
            &ctx,
            config.batch(batch).unwrap(),
            BatchJob::Train,
            Trigger::Cli,
        )
        .await
        .unwrap();
        assert_eq!(report.rows_read, 60 * 70, "{batch}");
        assert_eq!(report.rows_written, 70, "{batch}: {:?}", report.skipped);
        assert!(report.skipped.is_empty(), "{batch}: {:?}", report.skipped);
        for name in &names {
            let path = folder.join(format!("{batch}/{name}_knn_default.json"));
            let model: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(
                model["training"]["first_timestamp"],
                t(10).timestamp(),
                "{path:?}"
            );
            assert_eq!(
                model["training"]["last_timestamp"],
                t(59).timestamp(),
                "{path:?}"
            );
        }
    }
}

#[tokio::test]
async fn seeding_gives_only_empty_batches_history_scores_and_models() {
    let dir = MetricsDir::new();
    let models = dir.tmp.path().join("models");
    // Each ingest writes one point at its run time, so the history is one point per step.
    for name in ["fresh", "kept"] {
        dir.write(
            &format!("{name}.yaml"),
            &format!(
                "metric_batch: {name}\ningest_sql: SELECT {{{{ run_ts | sql_quote }}}} AS metric_timestamp, 'm' AS metric_name, (CAST(strftime('%M', {{{{ run_ts | sql_quote }}}}) AS REAL) * 7) % 13 AS metric_value\nmodel_path: local://{}\ntrain_min_n: 14\n",
                models.display()
            ),
        );
    }
    let config = dir.load_ok(&[]);
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    let now = Utc::now();
    let ctx = JobCtx::new(store.clone(), config.templates.clone(), now);
    // `kept` already has data: seeding must not add to it.
    jobs::run_recorded(
        &ctx,
        config.batch("kept").unwrap(),
        BatchJob::Ingest,
        Trigger::Cli,
    )
    .await
    .unwrap();

    let seeded = jobs::seed_empty_batches(&ctx, &config.batches, 6, Duration::minutes(10)).await;
    assert_eq!(seeded, ["fresh"]);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_batch = 'fresh' AND metric_type = 'metric'"
        )
        .await,
        37,
        "6 hours every 10 minutes, both ends included"
    );
    assert!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_batch = 'fresh' AND metric_type = 'score'"
        )
        .await
            > 0,
        "scored right away"
    );
    assert!(models.join("fresh").exists(), "a model trained");
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_batch = 'kept'"
        )
        .await,
        1
    );
    // A second start finds nothing to seed.
    assert!(
        jobs::seed_empty_batches(&ctx, &config.batches, 6, Duration::minutes(10))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn seeded_history_is_scored_walk_forward_and_its_spike_alerts() {
    let dir = MetricsDir::new();
    let end = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    // Noise between 0 and 12 every 10 minutes, and one spike at 14:00 the day before: well
    // inside the 24 hours seeded, far outside the newest points the score job scores.
    dir.write(
        "spiky.yaml",
        "metric_batch: spiky\ningest_sql: SELECT {{ run_ts | sql_quote }} AS metric_timestamp, 'm' AS metric_name, CASE WHEN {{ run_ts | sql_quote }} = '2026-03-01 14:00:00' THEN 100.0 ELSE (CAST(strftime('%M', {{ run_ts | sql_quote }}) AS REAL) * 7 + CAST(strftime('%H', {{ run_ts | sql_quote }}) AS REAL) * 3) % 13 END AS metric_value\nmodel_path: db://\ntrain_min_n: 14\nalert_snooze_n: 3\n",
    );
    let config = dir.load_ok(&[]);
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    let ctx = JobCtx::new(store.clone(), config.templates.clone(), end);
    let seeded = jobs::seed_empty_batches(&ctx, &config.batches, 24, Duration::minutes(10)).await;
    assert_eq!(seeded, ["spiky"]);
    let scores = count(
        &store,
        "SELECT count(*) FROM metrics WHERE metric_type = 'score'",
    )
    .await;
    assert!(
        scores > 100,
        "most of the 145 points are scored, not only the newest: {scores}"
    );
    // Smoothed over `alert_smooth_n` scores, as the live alert job decides.
    let near = count(
        &store,
        "SELECT count(*) FROM metrics WHERE metric_type = 'alert' AND metric_timestamp BETWEEN '2026-03-01 14:00:00' AND '2026-03-01 14:30:00'",
    )
    .await;
    assert!(
        near >= 1,
        "the spike alerts as the live alert job would have"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'alert' AND metadata <> '{\"seeded\":true}'",
        )
        .await,
        0,
        "seeded alerts are marked: nobody was sent them"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'alert' AND metric_timestamp < '2026-03-01 14:00:00'"
        )
        .await,
        0,
        "the noise before it does not"
    );
    let before_training = count(
        &store,
        "SELECT count(*) FROM metrics WHERE metric_type = 'score' AND metric_timestamp < '2026-03-01 02:10:00'",
    )
    .await;
    assert_eq!(
        before_training, 0,
        "no point is scored before a model could be trained on earlier ones"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE trigger <> 'seed'"
        )
        .await,
        0,
        "seeded runs are labelled as such"
    );
}
