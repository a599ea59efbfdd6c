//! `/mcp`: the MCP server over streamable HTTP, for assistants that reach the app over the
//! network. Every request needs a live API token (`Authorization: Bearer ask_…`), checked
//! here before rmcp sees the request, with the write API's own check (401 and
//! `WWW-Authenticate` without one or with a bad one). The token's name and scope travel in
//! the request's extensions to the handler, which lists and runs tools by scope; the token
//! itself is taken off the request, so nothing downstream can log it.
//!
//! Stateless mode with JSON answers: no session to keep, no long-lived SSE stream to hold
//! a connection past the request timeout or a graceful shutdown.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::AppState;
use super::api_write::bearer_token;
use crate::mcp::AnomstackMcp;

pub fn router(state: &AppState) -> Router<AppState> {
    let handler = AnomstackMcp::for_http(state.store.clone(), state.config.clone());
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // The app is reached by its public name; the bearer token, not the Host header, is
        // what keeps strangers out (rmcp's default allows loopback hosts only).
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(from_fn_with_state(state.clone(), require_token))
}

/// Lets a request with a live API token through, its caller in the extensions and its
/// `Authorization` header removed.
async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match bearer_token(request.headers(), &state.store).await {
        Ok(caller) => {
            request.headers_mut().remove(header::AUTHORIZATION);
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refused) => refused,
    }
}
