//! Router-level tests (no socket): health, version, and how errors are answered.

use std::sync::Arc;

use anomstack::config::{DatabaseLocation, Secret};
use anomstack::store::Store;
use anomstack::web::{AppState, router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{MetricsDir, batch_yaml};

async fn get(state: AppState, uri: &str) -> (StatusCode, serde_json::Value, String) {
    let resp = router(state)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or_default(),
        text,
    )
}

fn config() -> Arc<anomstack::config::LiveConfig> {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    anomstack::config::LiveConfig::fixed(dir.load_ok(&[]))
}

/// The router's state over a fresh database file (kept while the directory lives).
async fn local_state() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.path().join("a.db"),
    })
    .await
    .unwrap();
    (dir, AppState::new(store, config()))
}

#[tokio::test]
async fn health_is_ok_with_a_reachable_database() {
    let (_dir, state) = local_state().await;
    let (status, body, _) = get(state.clone(), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body, _) = get(state, "/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["schema_version"], anomstack::store::latest_version());
    assert!(body["commit"].is_string() && body["build_time"].is_string());
}

#[tokio::test]
async fn health_is_503_without_leaking_where_the_database_is() {
    // Nothing listens on this port, so every query fails.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let store = Store::open_unmigrated(&DatabaseLocation::Remote {
        url: format!("http://127.0.0.1:{port}"),
        token: Secret::new("tok-123"),
    })
    .await
    .unwrap();
    let state = AppState::new(store, config());
    let (status, body, text) = get(state, "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["database"], "unreachable");
    assert!(
        !text.contains(&port.to_string()) && !text.contains("tok-123"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let (_dir, state) = local_state().await;
    let (status, _, _) = get(state, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_error_is_json_for_the_api_a_fragment_for_htmx_and_a_page_otherwise() {
    let (_dir, state) = local_state().await;

    let (status, body, _) = get(state.clone(), "/api/v1/batches/nope/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "There is no batch named “nope”.");
    let (status, body, _) = get(state.clone(), "/api/v1/batches/a/metrics?window=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("soon"), "{body}");

    let resp = router(state.clone())
        .oneshot(
            Request::get("/batch/nope/cards")
                .header("hx-request", "true")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let fragment = resp.into_body().collect().await.unwrap().to_bytes();
    let fragment = String::from_utf8_lossy(&fragment);
    assert!(fragment.starts_with("<p class=\"error\""), "{fragment}");
    assert!(fragment.contains("There is no batch named “nope”."));
    assert!(!fragment.contains("<html"));

    let (status, _, page) = get(state, "/batch/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("<html") && page.contains("Back to all batches"),
        "{page}"
    );
    assert!(page.contains("There is no batch named “nope”."));
}
