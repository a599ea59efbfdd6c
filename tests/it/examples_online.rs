//! The online examples (`metrics/examples/online/`): shipped off, valid when switched on, and
//! each program ingests from a local server that answers like its public API (Hacker News'
//! Firebase API, open-meteo, GitHub's REST API, the USGS feed).

use anomstack::config::BatchJob;
use anomstack::jobs::{self, JobCtx, Trigger};
use anomstack::store::Value as StoreValue;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query};
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use crate::examples::{repo_config, temp_store};
use crate::support::receiver::serve;

const ONLINE: [&str; 5] = ["hackernews", "weather", "github", "earthquake", "gsod"];

/// A server answering the four public APIs' routes with fixed data.
async fn fake_apis() -> String {
    let router = Router::new()
        .route(
            "/v0/topstories.json",
            get(|| async { Json(json!((101..=130).collect::<Vec<u32>>())) }),
        )
        .route(
            "/v0/item/{file}",
            get(|Path(file): Path<String>| async move {
                let id: u32 = file.trim_end_matches(".json").parse().unwrap_or(0);
                // Story 103 was deleted meanwhile: Firebase answers null.
                if id == 103 {
                    return Json(Value::Null);
                }
                Json(json!({"id": id, "type": "story", "by": "someone", "score": id - 100, "title": "t"}))
            }),
        )
        .route(
            "/v1/forecast",
            get(|Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let lat: f64 = q.get("latitude").and_then(|l| l.parse().ok()).unwrap_or(0.0);
                let fields = q.get("current").cloned().unwrap_or_default();
                let mut current = serde_json::Map::new();
                current.insert("time".into(), json!("2026-12-03T13:00"));
                current.insert("interval".into(), json!(900));
                for f in fields.split(',') {
                    current.insert(f.into(), json!(if f == "temperature_2m" { lat / 10.0 } else { 1.5 }));
                }
                Json(json!({"latitude": lat, "current_units": {}, "current": current}))
            }),
        )
        .route(
            "/repos/{owner}/{repo}",
            get(|Path((owner, repo)): Path<(String, String)>| async move {
                Json(json!({
                    "full_name": format!("{owner}/{repo}"), "stargazers_count": 1234,
                    "forks_count": 56, "open_issues_count": 7, "subscribers_count": 89,
                    "size": 4321, "archived": false
                }))
            }),
        )
        .route(
            "/earthquakes/feed/v1.0/summary/all_day.geojson",
            get(|| async {
                Json(json!({"type": "FeatureCollection", "features": [
                    {"type": "Feature", "properties": {"mag": 2.5, "place": "a"}},
                    {"type": "Feature", "properties": {"mag": 4.1, "place": "b"}},
                    {"type": "Feature", "properties": {"mag": null, "place": "c"}},
                    {"type": "Feature", "properties": null}
                ]}))
            }),
        );
    serve(router).await
}

/// Switches `batch` on with its program pointed at `api`, ingests once, and returns the stored
/// (name, value) pairs.
async fn ingest(batch: &str, script: &str, api: &str) -> Vec<(String, f64)> {
    let upper = batch.to_uppercase();
    let cmd = format!("python3 {script} {api}");
    let (switch, command) = (
        format!("ANOMSTACK__{upper}__DISABLE_BATCH"),
        format!("ANOMSTACK__{upper}__INGEST_CMD"),
    );
    let config = repo_config(&[(&switch, "false"), (&command, &cmd)]);
    let batch = config.batch(batch).expect("switched on");
    let (_dir, store) = temp_store().await;
    let ctx = JobCtx::new(store.clone(), config.templates.clone(), Utc::now());
    let report = jobs::run_recorded(&ctx, batch, BatchJob::Ingest, Trigger::Cli)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", batch.name()));
    assert!(report.rows_written > 0, "{:?}", report.log);
    let rows = store
        .query(
            "SELECT metric_name, metric_value FROM metrics WHERE metric_type = 'metric' ORDER BY metric_name",
            "t",
        )
        .await
        .unwrap();
    rows.rows
        .iter()
        .map(|r| match (&r[0], &r[1]) {
            (StoreValue::Text(n), StoreValue::Real(v)) => (n.clone(), *v),
            (StoreValue::Text(n), StoreValue::Integer(v)) => (n.clone(), *v as f64),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn value(rows: &[(String, f64)], name: &str) -> f64 {
    rows.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
        .1
}

#[test]
fn the_online_examples_ship_switched_off_and_valid() {
    let config = repo_config(&[]);
    let disabled: Vec<&str> = config.disabled.iter().map(|(n, _)| n.as_str()).collect();
    for name in ONLINE {
        assert!(disabled.contains(&name), "{name} is off: {disabled:?}");
        assert!(config.batch(name).is_none());
    }
    // Switched on, each passes validation; GSOD's SQL renders from its include.
    let env: Vec<(String, String)> = ONLINE
        .iter()
        .map(|n| {
            (
                format!("ANOMSTACK__{}__DISABLE_BATCH", n.to_uppercase()),
                "false".to_owned(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let on = repo_config(&pairs);
    for name in ONLINE {
        assert!(on.batch(name).is_some(), "{name} loads when switched on");
    }
    let gsod = on.batch("gsod").unwrap();
    let sql = on
        .templates
        .render(
            gsod.spec.ingest_sql.as_deref().unwrap(),
            &gsod.spec,
            Utc::now(),
        )
        .unwrap();
    assert!(
        sql.contains("bigquery-public-data.noaa_gsod.stations") && sql.contains("gsod_us_temp_max")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hackernews_reports_the_top_ten_scores() {
    let api = fake_apis().await;
    let rows = ingest("hackernews", "hackernews.py", &format!("{api}/v0")).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    // Stories 101..111 but the vanished 103: scores 1, 2, 4..11.
    assert_eq!(value(&rows, "hn_top_10_min_score"), 1.0);
    assert_eq!(value(&rows, "hn_top_10_max_score"), 11.0);
    assert_eq!(value(&rows, "hn_top_10_avg_score"), 6.3);
    assert_eq!(value(&rows, "hn_top_10_total_score"), 63.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weather_reports_four_fields_for_six_cities() {
    let api = fake_apis().await;
    let rows = ingest("weather", "weather.py", &api).await;
    assert_eq!(rows.len(), 24, "{rows:?}");
    assert_eq!(value(&rows, "temp_dublin_temperature_2m"), 5.335);
    assert_eq!(value(&rows, "temp_sydney_cloud_cover"), 1.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_reports_five_figures_per_repository() {
    let api = fake_apis().await;
    let rows = ingest("github", "github.py", &api).await;
    assert_eq!(rows.len(), 25, "{rows:?}");
    assert_eq!(value(&rows, "github.apache.spark.stargazers"), 1234.0);
    assert_eq!(value(&rows, "github.netdata.netdata.open_issues"), 7.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earthquake_counts_the_day_and_skips_unknown_magnitudes() {
    let api = fake_apis().await;
    let rows = ingest("earthquake", "earthquake.py", &api).await;
    assert_eq!(value(&rows, "earthquake_count"), 4.0);
    assert_eq!(value(&rows, "earthquake_max_magnitude"), 4.1);
    assert_eq!(value(&rows, "earthquake_avg_magnitude"), 3.3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_fails_the_ingest_with_the_programs_error() {
    let config = repo_config(&[
        ("ANOMSTACK__HACKERNEWS__DISABLE_BATCH", "false"),
        (
            "ANOMSTACK__HACKERNEWS__INGEST_CMD",
            "python3 hackernews.py http://127.0.0.1:9/v0",
        ),
    ]);
    let (_dir, store) = temp_store().await;
    let ctx = JobCtx::new(store, config.templates.clone(), Utc::now());
    let err = jobs::run_recorded(
        &ctx,
        config.batch("hackernews").unwrap(),
        BatchJob::Ingest,
        Trigger::Cli,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("Connection refused") || err.contains("URLError"),
        "{err}"
    );
}
