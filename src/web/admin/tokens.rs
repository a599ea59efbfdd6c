//! API tokens for `/api/v1` write endpoints and the `/mcp` server: created here with a scope
//! (`read` by default: least privilege for an assistant; `write` for scripts that push or
//! silence), the token shown once, stored as a digest, listed by name, prefix and scope,
//! revoked with a button.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::{Admin, AdminForm};
use super::{NoFields, admin_page, csrf_field};
use crate::store::TokenScope;
use crate::web::AppState;
use crate::web::pages::layout::server_error;
use crate::web::secret_id::{digest, random_hex};

/// Tokens start with this, so they are recognisable in a config file or a leak scanner.
pub const TOKEN_PREFIX: &str = "ask_";

pub async fn token_list(State(state): State<AppState>, admin: Admin) -> Response {
    page(&state, &admin, html! {}).await
}

async fn page(state: &AppState, admin: &Admin, top: Markup) -> Response {
    let tokens = match state.store.api_tokens().await {
        Ok(t) => t,
        Err(e) => return server_error("reading API tokens", &e),
    };
    let body = html! {
        h1 { "API tokens" }
        p.muted { "Tokens let scripts call the write endpoints of " a href="/api/v1/openapi.json" { "/api/v1" }
            " (push metrics, run jobs, feedback, silences) and AI assistants use " code { "/mcp" }
            ", with " code { "Authorization: Bearer <token>" } ". A " strong { "read" }
            " token only answers questions; a " strong { "write" } " token may also change things." }
        (top)
        form.inline method="post" action="/admin/tokens" {
            (csrf_field(admin))
            label { "Name " input type="text" name="name" required maxlength="100" placeholder="e.g. airflow"; }
            " "
            label { "Scope "
                select name="scope" {
                    option value="read" selected { "read" }
                    option value="write" { "write" }
                }
            }
            " " button type="submit" { "Create token" }
        }
        @if tokens.is_empty() { p.muted { "No tokens yet." } } @else {
            table.admin-table {
                thead { tr { th { "Name" } th { "Scope" } th { "Starts with" } th { "Created" } th { "Last used" } th { "State" } th {} } }
                tbody { @for t in &tokens {
                    tr {
                        td { (t.name) }
                        td { (t.scope.as_str()) }
                        td { code { (t.prefix) "…" } }
                        td { (t.created_at.format("%Y-%m-%d %H:%M")) }
                        td { @if let Some(u) = t.last_used_at { (u.format("%Y-%m-%d %H:%M")) } @else { "never" } }
                        td { @if let Some(r) = t.revoked_at { "revoked " (r.format("%Y-%m-%d")) } @else { "live" } }
                        td { @if t.revoked_at.is_none() {
                            form.inline method="post" action={ "/admin/tokens/" (t.id) "/revoke" } {
                                (csrf_field(admin))
                                button.link type="submit" { "Revoke" }
                            }
                        } }
                    }
                } }
            }
        }
    };
    admin_page("API tokens", admin, body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    /// `read` (the default) or `write`.
    #[serde(default)]
    scope: String,
}

pub async fn create(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm<TokenForm>,
) -> Response {
    let name = form.name.trim();
    if name.is_empty() || name.len() > 100 {
        return (
            StatusCode::BAD_REQUEST,
            "A token needs a name of 1 to 100 characters.",
        )
            .into_response();
    }
    let scope = if form.scope.trim().is_empty() {
        TokenScope::Read
    } else {
        match TokenScope::parse(&form.scope) {
            Some(s) => s,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    "The scope of a token is read or write.",
                )
                    .into_response();
            }
        }
    };
    let token = format!("{TOKEN_PREFIX}{}", random_hex());
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
    if let Err(e) = state
        .store
        .create_api_token(
            name,
            &digest(&token),
            &prefix,
            scope,
            Utc::now().naive_utc(),
        )
        .await
    {
        return server_error("creating an API token", &e);
    }
    tracing::info!(
        user = admin.username,
        name,
        scope = scope.as_str(),
        "API token created"
    );
    let shown = html! {
        div.notice role="status" {
            p { "Token “" (name) "” (" (scope.as_str()) ") created. Copy it now: it is not stored and will not be shown again." }
            pre.token { code #new-token { (token) } }
        }
    };
    page(&state, &admin, shown).await
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Response {
    match state
        .store
        .revoke_api_token(id, Utc::now().naive_utc())
        .await
    {
        Ok(true) => {
            tracing::info!(user = admin.username, id, "API token revoked");
            page(
                &state,
                &admin,
                html! { p.notice role="status" { "Token revoked." } },
            )
            .await
        }
        Ok(false) => (
            StatusCode::NOT_FOUND,
            "There is no live token with this number.",
        )
            .into_response(),
        Err(e) => server_error("revoking an API token", &e),
    }
}
