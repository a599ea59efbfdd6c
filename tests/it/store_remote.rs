//! The app database in Turso mode, against a Hrana v3 server on 127.0.0.1 that executes on a
//! local libsql file. The store runs the same client code path it uses against Turso.

use anomstack::config::{DatabaseLocation, Secret};
use anomstack::store::{self, MetricType, Store, StoreError, WindowQuery};

use crate::store_local::{count, row};
use crate::support::hrana;

fn remote(server: &hrana::HranaServer, token: &str) -> DatabaseLocation {
    DatabaseLocation::Remote {
        url: server.url.clone(),
        token: Secret::new(token),
    }
}

#[tokio::test]
async fn migrations_upserts_and_windows_work_over_the_remote_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("served.db");
    let server = hrana::start(&file, "secret-token").await;
    let store = Store::open(&remote(&server, "secret-token")).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        store::latest_version()
    );

    let rows: Vec<_> = (0..320)
        .map(|i| {
            row(
                "m",
                &format!("2024-01-01 {:02}:{:02}:00", i / 60, i % 60),
                MetricType::Metric,
                f64::from(i),
            )
        })
        .collect();
    store.upsert_metrics("metrics", &rows).await.unwrap();
    store.upsert_metrics("metrics", &rows).await.unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 320);

    let window = store
        .metric_window(&WindowQuery {
            table: "metrics",
            batch: "b",
            metric_type: MetricType::Metric,
            max_n: 5,
            since: None,
            until: None,
        })
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|r| r.value).collect::<Vec<_>>(),
        [315.0, 316.0, 317.0, 318.0, 319.0]
    );
    store.ping().await.unwrap();

    // The rows really are in the served file.
    drop(store);
    let local = Store::open(&DatabaseLocation::Local { path: file })
        .await
        .unwrap();
    assert_eq!(count(&local, "SELECT count(*) FROM metrics").await, 320);

    // Every request carried the token as a bearer credential.
    let headers = server.auth_headers.lock().unwrap().clone();
    assert!(!headers.is_empty());
    assert!(
        headers.iter().all(|h| h == "Bearer secret-token"),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_wrong_token_fails_to_open_without_echoing_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = hrana::start(&dir.path().join("served.db"), "right").await;
    let err = Store::open(&remote(&server, "wrong-token-value"))
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("wrong-token-value"), "{text}");
}

#[tokio::test]
async fn a_remote_database_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("served.db");
    {
        let local = Store::open(&DatabaseLocation::Local { path: file.clone() })
            .await
            .unwrap();
        let conn = local.connect().await.unwrap();
        conn.execute(
            "INSERT INTO anomstack_schema VALUES (500, 'future', 'x')",
            (),
        )
        .await
        .unwrap();
    }
    let server = hrana::start(&file, "t").await;
    let err = Store::open(&remote(&server, "t"))
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 500, .. }),
        "{err}"
    );
}
