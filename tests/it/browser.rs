//! The dashboard and the admin panel in Debian chromium, driven by playwright-core
//! (`tests/browser/`), against
//! the real server on a seeded database. `scripts/install_test_deps.sh` installs chromium
//! and the node package; without them this test fails rather than passing unseen.

use std::path::PathBuf;
use std::time::Duration;

use crate::dashboard::site;

/// Runs `tests/browser/<script>` with node against `base`; its stdout, after asserting that it
/// succeeded and saved a screenshot for every step.
async fn run_browser(script: &str, base: &str, extra: &[&str], steps: &[&str]) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target").join("screenshots");
    let run = tokio::process::Command::new("node")
        .arg(root.join("tests").join("browser").join(script))
        .arg(base)
        .arg(&shots)
        .args(extra)
        .current_dir(root.join("tests").join("browser"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser run took over 3 minutes")
        .expect("node runs (scripts/install_test_deps.sh installs it with chromium)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser steps failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    for step in steps {
        assert!(stdout.contains(&format!("ok   {step}")), "{stdout}");
        assert!(shots.join(format!("{step}.png")).is_file(), "{step}.png");
    }
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let site = site(true).await;
    run_browser(
        "dashboard.mjs",
        &site.app.base,
        &[],
        &[
            "home",
            "batch",
            "batch-picker",
            "search",
            "window",
            "dark",
            "anomalies",
            "phone",
            "layout-390-light",
            "layout-390-dark",
            "layout-1440-light",
            "layout-1440-dark",
        ],
    )
    .await;
    site.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_panel_runs_a_job_in_a_real_browser() {
    // The whole app, its workers running the jobs the buttons queue.
    let site = crate::admin::admin_app(crate::admin::BATCH, &[("ANOMSTACK_WORKERS", "true")]).await;
    run_browser(
        "admin.mjs",
        &site.app.base,
        &[crate::admin::USER, crate::admin::PASSWORD],
        &[
            "admin-closed",
            "admin-wrong-password",
            "admin-login",
            "admin-chart-before",
            "admin-run-ingest",
            "admin-chart-after",
            "admin-overview-run",
            "admin-runs",
            "admin-layout-390-light",
            "admin-layout-390-dark",
            "admin-layout-1440-light",
            "admin-layout-1440-dark",
            "admin-logout",
        ],
    )
    .await;
    let store = site.store.clone();
    site.app.stop().await;
    assert_eq!(
        crate::store_local::count(&store, "SELECT COUNT(*) FROM admin_sessions").await,
        0,
        "logging out removed the session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_followed_and_acknowledged_in_a_real_browser() {
    use anomstack::config::BatchJob;
    use anomstack::jobs::{self, JobCtx, Trigger};
    use anomstack::store::{MetricRow, MetricType};
    use chrono::{Duration as Span, Timelike, Utc};

    // Three metrics of a shop drop together (like the example `simple` batch): the alert job
    // opens one incident for all three.
    let site = crate::admin::admin_app(
        "metric_batch: shop\ningest_sql: SELECT 1\nalert_smooth_n: 1\nalert_threshold: 0.9\nalert_recent_n: 3\nalert_snooze_n: 0\nalert_min_rel_change: 0\nstale_after_n: 0\nincident_window_minutes: 30\n",
        &[],
    )
    .await;
    let now = Utc::now().naive_utc().with_second(0).unwrap();
    let mut rows = Vec::new();
    for (name, level) in [("orders", 120.0), ("revenue", 5400.0), ("checkouts", 95.0)] {
        for i in 0..144i64 {
            let ts = now - Span::minutes(5 * (143 - i));
            let dropped = i >= 141;
            let wave = (i as f64 / 12.0).sin() * level * 0.05;
            let value = if dropped { level * 0.35 } else { level + wave };
            let row = |t, v, meta: &str| MetricRow {
                timestamp: ts,
                batch: "shop".into(),
                name: name.into(),
                metric_type: t,
                value: v,
                metadata: meta.into(),
            };
            rows.push(row(MetricType::Metric, value, ""));
            rows.push(row(
                MetricType::Score,
                if i == 141 {
                    0.97
                } else {
                    0.1 + (i % 4) as f64 * 0.03
                },
                "",
            ));
            if name == "checkouts" && i == 141 {
                rows.push(row(
                    MetricType::LlmAlert,
                    1.0,
                    r#"{"anomaly_explanation": "a sudden drop in checkout volume to a third of its level"}"#,
                ));
            }
        }
    }
    site.store.upsert_metrics("metrics", &rows).await.unwrap();
    let config = site.live.current();
    let ctx = JobCtx::new(site.store.clone(), config.templates.clone(), Utc::now());
    jobs::run_recorded(
        &ctx,
        config.batch("shop").unwrap(),
        BatchJob::Alert,
        Trigger::Cli,
    )
    .await
    .unwrap();
    let incident = site.store.incident(1).await.unwrap().expect("one incident");
    assert_eq!(incident.metrics(), ["checkouts", "orders", "revenue"]);
    run_browser(
        "incident.mjs",
        &site.app.base,
        &[crate::admin::USER, crate::admin::PASSWORD],
        &["incident-home", "incident-page", "incident-acknowledged"],
    )
    .await;
    site.app.stop().await;
}
