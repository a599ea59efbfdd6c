//! The app database on a real libSQL server (`sqld`, what Turso runs), in remote mode (Hrana
//! over HTTP) and as an embedded replica (a local file synced from the server, writes
//! forwarded to it), with JWT auth as Turso uses it.

use anomstack::config::{DatabaseLocation, Secret};
use anomstack::store::{self, MetricType, Store, StoreError, WindowQuery};

use crate::store_local::{count, row};
use crate::support::sqld::Sqld;

pub fn remote(server: &Sqld, token: &str) -> DatabaseLocation {
    DatabaseLocation::Remote {
        url: server.url.clone(),
        token: Secret::new(token),
    }
}

pub fn replica(server: &Sqld, token: &str, path: std::path::PathBuf) -> DatabaseLocation {
    DatabaseLocation::Replica {
        path,
        url: server.url.clone(),
        token: Secret::new(token),
    }
}

fn minutes(n: u32) -> Vec<anomstack::store::MetricRow> {
    (0..n)
        .map(|i| {
            row(
                "m",
                &format!("2024-01-01 {:02}:{:02}:00", i / 60, i % 60),
                MetricType::Metric,
                f64::from(i),
            )
        })
        .collect()
}

async fn newest(store: &Store, n: usize) -> Vec<f64> {
    store
        .metric_window(&WindowQuery {
            table: "metrics",
            batch: "b",
            metric_type: MetricType::Metric,
            max_n: n,
            since: None,
            until: None,
        })
        .await
        .unwrap()
        .iter()
        .map(|r| r.value)
        .collect()
}

#[tokio::test]
async fn migrations_upserts_and_windows_work_against_sqld_with_jwt_auth() {
    let server = Sqld::start_with_auth().await;
    let token = server.token();
    let store = Store::open(&remote(&server, &token)).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        store::latest_version()
    );
    let rows = minutes(320);
    store.upsert_metrics("metrics", &rows).await.unwrap();
    store.upsert_metrics("metrics", &rows).await.unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 320);
    assert_eq!(newest(&store, 5).await, [315.0, 316.0, 317.0, 318.0, 319.0]);
    store.ping().await.unwrap();

    // Another client (another machine) sees the same database, already migrated.
    let other = Store::open(&remote(&server, &token)).await.unwrap();
    assert_eq!(count(&other, "SELECT count(*) FROM metrics").await, 320);
}

#[tokio::test]
async fn a_wrong_or_missing_token_fails_to_open_without_echoing_it() {
    let server = Sqld::start_with_auth().await;
    let err = Store::open(&remote(&server, "wrong-token-value"))
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("wrong-token-value"), "{text}");
    let err = Store::open(&remote(&server, ""))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("401"), "{err}");
}

#[tokio::test]
async fn a_read_only_token_is_refused_at_start_with_a_clear_error() {
    let server = Sqld::start_with_auth().await;
    let read_only = server
        .signer
        .as_ref()
        .map(|s| s.read_only_token())
        .unwrap_or_default();
    let err = Store::open(&remote(&server, &read_only))
        .await
        .err()
        .expect("a read-only token cannot run the app");
    let text = err.to_string();
    assert!(text.contains("read-only"), "{text}");
    assert!(!text.contains(&read_only), "{text}");
}

#[tokio::test]
async fn a_remote_database_newer_than_the_binary_is_refused() {
    let server = Sqld::start().await;
    {
        let store = Store::open(&remote(&server, "")).await.unwrap();
        let conn = store.connect().await.unwrap();
        conn.execute(
            "INSERT INTO anomstack_schema VALUES (500, 'future', 'x')",
            (),
        )
        .await
        .unwrap();
    }
    let err = Store::open(&remote(&server, ""))
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 500, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn an_embedded_replica_reads_locally_writes_to_the_primary_and_syncs() {
    let server = Sqld::start_with_auth().await;
    let token = server.token();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replica").join("app.db");
    let local = Store::open(&replica(&server, &token, path.clone()))
        .await
        .unwrap();
    assert!(path.exists(), "the replica is a local file");
    assert_eq!(
        local.schema_version().await.unwrap(),
        store::latest_version()
    );
    // Writes go to the primary and are read back at once (read your writes).
    local.upsert_metrics("metrics", &minutes(30)).await.unwrap();
    assert_eq!(count(&local, "SELECT count(*) FROM metrics").await, 30);
    let primary = Store::open(&remote(&server, &token)).await.unwrap();
    assert_eq!(count(&primary, "SELECT count(*) FROM metrics").await, 30);
    // Another machine's writes arrive with the next sync.
    primary
        .upsert_metrics("metrics", &minutes(90))
        .await
        .unwrap();
    local.sync().await.unwrap();
    assert_eq!(count(&local, "SELECT count(*) FROM metrics").await, 90);
    assert_eq!(newest(&local, 2).await, [88.0, 89.0]);
    // Many separate writes: each would hold a connection on the primary (sqld allows 128)
    // if the replica opened a new one per statement.
    local
        .execute("CREATE TABLE many (n INTEGER)", "test")
        .await
        .unwrap();
    for n in 0..300 {
        local
            .execute(&format!("INSERT INTO many VALUES ({n})"), "test")
            .await
            .unwrap();
    }
    assert_eq!(count(&local, "SELECT count(*) FROM many").await, 300);
}

/// `GET path` on the app's router: status and body.
async fn get(state: &anomstack::web::AppState, path: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = anomstack::web::router(state.clone())
        .oneshot(
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Polls `check` every 100 ms for up to `secs` seconds.
async fn eventually(secs: u64, mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..secs * 10 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_app_syncs_on_its_interval_and_says_when_it_falls_behind() {
    let mut server = Sqld::start_with_auth().await;
    let token = server.token();
    let dir = crate::support::MetricsDir::new();
    let mut pairs: Vec<(&str, &str)> = crate::support::app::QUIET.to_vec();
    pairs.push(("ANOMSTACK_TURSO_SYNC_SECONDS", "1"));
    let env = anomstack::config::EnvVars::from_pairs(pairs.iter().copied());
    let mut settings = dir.settings(&env);
    settings.database = replica(&server, &token, dir.tmp.path().join("replica.db"));
    let app = crate::support::app::spawn_app(settings, dir.load_ok(&[]), env.clone()).await;
    let (status, body) = get(&app.state, "/health").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{body}");
    assert_eq!(health["replica"]["sync_failing"], false);

    // Another machine writes; the replica sees it within a few intervals, unasked.
    let other = Store::open(&remote(&server, &token)).await.unwrap();
    other.upsert_metrics("metrics", &minutes(12)).await.unwrap();
    let store = app.store.clone();
    assert!(
        eventually(5, async || count(&store, "SELECT count(*) FROM metrics")
            .await
            == 12)
        .await,
        "the periodic sync brought the other machine's rows"
    );

    // The primary goes away: the replica serves what it has and says it is behind.
    server.stop().await;
    let state = app.state.clone();
    assert!(
        eventually(8, async || {
            let (_, body) = get(&state, "/health").await;
            body.contains("\"status\":\"degraded\"") && body.contains("\"sync_failing\":true")
        })
        .await,
        "health says degraded while the primary is away"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 12);
    let (status, metrics) = get(&app.state, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("anomstack_replica_sync_age_seconds "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("anomstack_replica_sync_failures_total 0\n"),
        "{metrics}"
    );
    assert!(!metrics.contains(&token), "no token in /metrics");

    let (_, banner) = get(&app.state, "/health/banner").await;
    assert!(
        banner.contains("cannot reach its primary database"),
        "{banner}"
    );

    // A restart while the primary is still away: the replica serves what it last synced.
    app.stop().await;
    let mut settings = dir.settings(&env);
    settings.database = replica(&server, &token, dir.tmp.path().join("replica.db"));
    let app = crate::support::app::spawn_app(settings, dir.load_ok(&[]), env.clone()).await;
    let store = app.store.clone();
    let state = app.state.clone();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 12);
    let (status, body) = get(&state, "/health").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"degraded\""), "{body}");
    let (status, page) = get(&state, "/").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("hx-get=\"/health/banner\""));

    // Back again: the next sync clears it.
    server.run().await;
    assert!(
        eventually(8, async || {
            let (_, body) = get(&state, "/health").await;
            body.contains("\"status\":\"ok\"")
        })
        .await,
        "health recovers when the primary is back"
    );
    let (_, banner) = get(&state, "/health/banner").await;
    assert!(banner.is_empty(), "{banner}");
    app.stop().await;
}

/// Three machines, each on its own replica, ask for the hourly housekeeping turn at the same
/// moment: one gets it, the others (and the first, asking again) wait for the next hour; a
/// lease past its time is free again.
#[tokio::test(flavor = "multi_thread")]
async fn one_machine_of_several_takes_the_housekeeping_turn() {
    let server = Sqld::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut machines = Vec::new();
    for i in 0..3 {
        machines.push(
            Store::open(&replica(&server, "", dir.path().join(format!("r{i}.db"))))
                .await
                .unwrap(),
        );
    }
    let turns = futures::future::join_all(
        machines
            .iter()
            .enumerate()
            .map(|(i, m)| anomstack::queue::housekeeping::take_turn(m, ["a", "b", "c"][i])),
    )
    .await;
    let taken: Vec<bool> = turns.into_iter().map(Result::unwrap).collect();
    assert_eq!(taken.iter().filter(|t| **t).count(), 1, "{taken:?}");
    for (m, holder) in machines.iter().zip(["a", "b", "c"]) {
        assert!(
            !anomstack::queue::housekeeping::take_turn(m, holder)
                .await
                .unwrap()
        );
    }
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
    assert!(machines[0].take_lease("x", "a", past).await.unwrap());
    assert!(machines[1].take_lease("x", "b", soon).await.unwrap());
    assert!(!machines[2].take_lease("x", "c", soon).await.unwrap());
}
