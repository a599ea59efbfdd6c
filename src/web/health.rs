//! `/health` for load balancers and Fly checks (fails when the database is unreachable), and
//! `/version` so an operator can see which build is running.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use crate::version;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/banner", get(banner))
        .route("/version", get(version_info))
}

async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        // An embedded replica that cannot sync still serves its last synced data: degraded,
        // not down, so a load balancer keeps the machine (and people see how far behind).
        Ok(()) => match state.store.sync_status() {
            None => Json(json!({
                "status": "ok",
                "service": "anomstack",
                "database": "ok",
            }))
            .into_response(),
            Some(sync) => {
                let degraded = sync.degraded(state.replica_sync);
                Json(json!({
                    "status": if degraded { "degraded" } else { "ok" },
                    "service": "anomstack",
                    "database": "ok",
                    "replica": {
                        "synced_seconds_ago": sync.age().map(|a| a.as_secs()),
                        "sync_failing": sync.error.is_some(),
                        "sync_failures": sync.failures,
                        "frame": sync.frame,
                    },
                }))
                .into_response()
            }
        },
        Err(e) => {
            // The detail goes to the log only: it may name hosts or files.
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "error",
                    "service": "anomstack",
                    "database": "unreachable",
                })),
            )
                .into_response()
        }
    }
}

/// The banner every page loads (htmx, after the page): nothing, or, on an embedded replica
/// that cannot reach its primary, that the data shown is as of its last sync.
async fn banner(State(state): State<AppState>) -> Response {
    let Some(sync) = state.store.sync_status().filter(|s| s.error.is_some()) else {
        return "".into_response();
    };
    let ago = sync
        .age()
        .map(|a| format!("{} s ago", a.as_secs()))
        .unwrap_or_else(|| "before this start".into());
    maud::html! {
        p.error #db-status role="status" {
            "This machine cannot reach its primary database: the pages show the data it last synced ("
            (ago) "). Jobs and changes wait until the primary is back."
        }
    }
    .into_response()
}

async fn version_info(State(state): State<AppState>) -> Response {
    let schema = state.store.schema_version().await.ok();
    Json(json!({
        "version": version::VERSION,
        "commit": version::COMMIT,
        "build_time": version::BUILD_TIME,
        "schema_version": schema,
        "batches": state.config.current().batches.len(),
    }))
    .into_response()
}
