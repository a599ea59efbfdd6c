//! Hostile and unlucky rows (long, Unicode, control characters, NUL, quotes, SQL, HTML, path
//! tricks, huge and tiny floats, NaN spelled every way, duplicate keys) through the push API
//! and through `ingest_cmd`, then every job and page over what was stored: bad rows are
//! rejected and named, good rows are stored exactly once, no job fails, no page errors.

use std::collections::BTreeMap;

use anomstack::config::BatchJob;
use anomstack::jobs::{self, JobCtx};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::admin::{Client, admin_site};
use crate::store_local::count;

/// Points per metric: enough for every model to train.
const POINTS: i64 = 40;

/// Names that must be stored as they are.
fn good_names() -> Vec<String> {
    vec![
        "plain".into(),
        "ventes_été_📈 ünïcødé".into(),
        "o'brien \"quoted\"".into(),
        "x'); DROP TABLE metrics; --".into(),
        "<script>alert(1)</script>".into(),
        "../../etc/passwd".into(),
        "%".repeat(80),
        "y".repeat(200),
        "é".repeat(100),
    ]
}

/// Names that must be refused, with a word of the reason.
fn bad_names() -> Vec<(String, &'static str)> {
    vec![
        ("z".repeat(201), "limit is 200"),
        ("é".repeat(101), "limit is 200"),
        ("a\0b".into(), "U+0000"),
        ("tab\there".into(), "U+0009"),
        ("line\nbreak".into(), "U+000A"),
        ("   ".into(), "empty"),
    ]
}

/// Values that must be refused.
fn bad_values() -> Vec<Value> {
    [
        "NaN",
        "nan",
        "-nan",
        "inf",
        "-inf",
        "Infinity",
        "-Infinity",
        "1e400",
        "",
        "n/a",
    ]
    .into_iter()
    .map(Value::from)
    .chain([Value::Null, json!(true), json!({"v": 1})])
    .collect()
}

fn at(i: i64) -> NaiveDateTime {
    let start = Utc::now().naive_utc() - Duration::hours(12);
    let start = start - Duration::seconds(start.and_utc().timestamp() % 600);
    start + Duration::minutes(10 * i)
}

fn ts(i: i64) -> String {
    at(i).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A value of `name` at point `i`: ordinary, with a few extremes on one metric.
fn value(name: &str, i: i64) -> Value {
    if name == "plain" {
        return match i {
            7 => json!(1e305),
            8 => json!(-1e305),
            9 => json!(5e-324),
            10 => json!(f64::MAX),
            _ => json!((i % 7) as f64 + 0.5),
        };
    }
    json!(((i * 13) % 11) as f64 * 1.25)
}

/// The rows of one source: every good name at every point (the first point twice, the second
/// copy winning), then the bad rows. Returns the rows and the positions of bad ones.
fn rows(offset: i64) -> (Vec<Value>, usize) {
    let mut rows = Vec::new();
    for name in good_names() {
        for i in offset..offset + POINTS {
            rows.push(json!({"metric_timestamp": ts(i), "metric_name": name, "metric_value": value(&name, i)}));
        }
        // A duplicate key: the later row wins.
        rows.push(
            json!({"metric_timestamp": ts(offset), "metric_name": name, "metric_value": 42.0}),
        );
    }
    let good = rows.len();
    for (name, _) in bad_names() {
        rows.push(
            json!({"metric_timestamp": ts(offset), "metric_name": name, "metric_value": 1.0}),
        );
    }
    for v in bad_values() {
        rows.push(
            json!({"metric_timestamp": ts(offset), "metric_name": "plain", "metric_value": v}),
        );
    }
    let bad = rows.len() - good;
    (rows, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_rows_never_break_a_batch() {
    let models = tempfile::tempdir().unwrap();
    let site = admin_site(&format!(
        "metric_batch: b\ningest_cmd: cat rows.jsonl\ntrain_min_n: 10\nmodel_path: local://{}\n",
        models.path().display()
    ))
    .await;
    // Through ingest_cmd: the first 40 points of each metric as JSON lines.
    let (from_cmd, bad_cmd) = rows(0);
    let lines: Vec<String> = from_cmd.iter().map(Value::to_string).collect();
    site.dir.write("rows.jsonl", &lines.join("\n"));
    let config = site.live.current();
    let batch = config.batch("b").unwrap();
    let ctx = JobCtx::new(site.store.clone(), config.templates.clone(), Utc::now());
    let ingest = jobs::run_recorded(&ctx, batch, BatchJob::Ingest, jobs::Trigger::Cli)
        .await
        .unwrap_or_else(|e| panic!("ingest: {e}"));
    let rejected = ingest.log.join("\n");
    assert!(
        rejected.contains(&format!("rejected {bad_cmd} of")),
        "{rejected}"
    );

    // Through the push API: the next 40 points, each bad row named with its reason.
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    let token = c.create_api_token(&csrf, "t", "write").await.1;
    let (pushed, bad_push) = rows(POINTS);
    let r = Client::new(&site.state)
        .send(
            Request::post("/api/v1/batches/b/ingest")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "rows": pushed }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let answer: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(answer["rows_rejected"], bad_push);
    let reasons: Vec<String> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    for (_, why) in bad_names() {
        assert!(
            reasons.iter().any(|r| r.contains(why)),
            "{why}: {reasons:?}"
        );
    }
    assert!(!reasons.iter().any(|r| r.contains('\0') || r.contains('\n')));

    // Every good row once: both sources' points, the duplicates folded, the later one kept.
    let goods = good_names();
    assert_eq!(
        count(
            &site.store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'metric'"
        )
        .await,
        (goods.len() as i64) * 2 * POINTS
    );
    let conn = site.store.connect().await.unwrap();
    let mut stored = conn
        .query(
            "SELECT metric_name, count(*), sum(metric_timestamp = ?1 AND metric_value = 42.0) FROM metrics WHERE metric_type = 'metric' GROUP BY metric_name",
            [ts(0)],
        )
        .await
        .unwrap();
    let mut by_name = BTreeMap::new();
    while let Some(row) = stored.next().await.unwrap() {
        by_name.insert(
            row.get::<String>(0).unwrap(),
            (row.get::<i64>(1).unwrap(), row.get::<i64>(2).unwrap()),
        );
    }
    for name in &goods {
        assert_eq!(by_name.get(name), Some(&(2 * POINTS, 1)), "{name}");
    }
    assert_eq!(by_name.len(), goods.len(), "{:?}", by_name.keys());

    // Every job over them succeeds, for every metric.
    for job in [
        BatchJob::Train,
        BatchJob::Score,
        BatchJob::Alert,
        BatchJob::Change,
        BatchJob::Plot,
    ] {
        let report = jobs::run_recorded(&ctx, batch, job, jobs::Trigger::Cli)
            .await
            .unwrap_or_else(|e| panic!("{job}: {e}"));
        if job == BatchJob::Train {
            let per_metric = batch.spec.models().unwrap().len();
            assert_eq!(
                report.rows_written as usize,
                goods.len() * per_metric,
                "every metric gets its models: {:?}",
                report.skipped
            );
        }
        if job == BatchJob::Score {
            assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        }
    }
    assert!(
        count(
            &site.store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'score'"
        )
        .await
            > 0
    );

    // Every page over them answers, none with an error.
    let mut visitor = Client::new(&site.state);
    let mut pages = vec![
        "/".to_owned(),
        "/batch/b".into(),
        "/batch/b?window=24h".into(),
        "/batch/b/cards?offset=0".into(),
        "/batch/b/anomalies".into(),
        "/batch/b/plot.png".into(),
        "/api/v1/batches/b/metrics".into(),
        "/api/v1/batches/b/anomalies".into(),
        "/metrics".into(),
    ];
    for name in &goods {
        let seg = anomstack::http::path_segment(name);
        let query = serde_urlencoded::to_string([("metric", name.as_str())]).unwrap();
        pages.push(format!("/batch/b/metric/{seg}"));
        pages.push(format!("/batch/b/chart?{query}"));
        pages.push(format!("/api/v1/batches/b/metrics/{seg}/series"));
    }
    for page in pages {
        let r = visitor.get(&page).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{page}: {}",
            &r.body[..r.body.len().min(300)]
        );
        let html = r
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        // JSON carries names as data (served as JSON, never sniffed); pages escape them.
        assert!(
            !(html && r.body.contains("<script>alert(1)")),
            "{page} does not escape a name"
        );
    }
    let failed = count(
        &site.store,
        "SELECT count(*) FROM job_runs WHERE status != 'succeeded'",
    )
    .await;
    assert_eq!(failed, 0);
}
