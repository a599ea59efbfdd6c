//! The effective configuration of each batch (defaults, file and environment overrides
//! merged), with secrets masked, the `ANOMSTACK_*` environment likewise, and a button that
//! reloads the metrics folder: batches that do not validate are shown with their errors and
//! do not run; the others take the new configuration.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::session::{Admin, AdminForm};
use super::{NoFields, admin_page, csrf_field};
use crate::config::Reload;
use crate::config::mask::{mask_secrets, shown_env_value};
use crate::web::AppState;
use crate::web::view::segment;

#[derive(Debug, Default, Deserialize)]
pub struct ConfigQuery {
    batch: Option<String>,
}

pub async fn config_page(
    State(state): State<AppState>,
    Query(q): Query<ConfigQuery>,
    admin: Admin,
) -> Response {
    let body = config_body(&state, &admin, q.batch.as_deref(), html! {});
    admin_page("Configuration", &admin, body).into_response()
}

fn config_body(state: &AppState, admin: &Admin, selected: Option<&str>, outcome: Markup) -> Markup {
    let config = state.config.current();
    let batch = selected
        .and_then(|name| config.batch(name))
        .or_else(|| config.batches.first());
    let yaml = batch.map(|b| {
        let mut value = serde_json::to_value(&b.spec).unwrap_or_default();
        mask_secrets(&mut value);
        serde_yaml::to_string(&value).unwrap_or_else(|e| format!("cannot show: {e}"))
    });
    let mut env: Vec<(String, String)> = state
        .config
        .env()
        .map(|env| {
            env.iter()
                .filter(|(k, _)| {
                    k.starts_with("ANOMSTACK") || k.starts_with("OPENAI") || k.starts_with("FLY_")
                })
                .map(|(k, v)| (k.to_owned(), shown_env_value(k, v)))
                .collect()
        })
        .unwrap_or_default();
    env.sort();
    html! {
        h1 { "Configuration" }
        (outcome)
        form.inline method="post" action="/admin/config/reload" {
            (csrf_field(admin))
            button type="submit" { "Reload the metrics folder" }
            span.muted { " (changes are also picked up automatically every few seconds)" }
        }
        nav.tabs aria-label="Batches" {
            @for b in &config.batches {
                a href={ "/admin/config?batch=" (segment(b.name())) }
                    aria-current=[(batch.map(|x| x.name()) == Some(b.name())).then_some("page")] { (b.name()) }
            }
        }
        @if let (Some(b), Some(yaml)) = (batch, yaml) {
            h2 { (b.name()) }
            p.muted { "Defaults, " code { (b.file.display()) } " and " code { "ANOMSTACK__" (b.name().to_uppercase()) "__*" } " overrides, merged. Secrets are masked." }
            pre.config { (yaml) }
        } @else {
            p.muted { "No batch is configured." }
        }
        h2 { "Environment" }
        @if env.is_empty() { p.muted { "No ANOMSTACK_* variables are set." } } @else {
            table.admin-table { tbody { @for (k, v) in &env { tr { th scope="row" { code { (k) } } td { code { (v) } } } } } }
        }
    }
}

pub async fn reload(
    State(state): State<AppState>,
    AdminForm { admin, .. }: AdminForm<NoFields>,
) -> Response {
    let live = state.config.clone();
    let result = tokio::task::spawn_blocking(move || live.reload()).await;
    let (status, outcome) = match result {
        Ok(Ok(Reload::Applied { batches, problems })) => {
            tracing::info!(
                user = admin.username,
                batches,
                invalid = problems.0.len(),
                "configuration reloaded from the admin panel"
            );
            if problems.0.is_empty() {
                (
                    StatusCode::OK,
                    html! { p.notice role="status" { "Reloaded: " (batches) " batch(es) are live." } },
                )
            } else {
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    html! {
                        div.error role="alert" {
                            p { "Reloaded: " (batches) " batch(es) are live. What does not validate does not run until it is fixed; "
                                (problems.0.len()) " problem(s):" }
                            ul { @for e in &problems.0 { li { code { (e.to_string()) } } } }
                        }
                    },
                )
            }
        }
        Ok(Ok(Reload::Unchanged)) => (
            StatusCode::OK,
            html! { p.notice role="status" { "This server's configuration is fixed; nothing to reload." } },
        ),
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {
                div.error role="alert" {
                    p { "The metrics folder cannot be read, so nothing was applied; the previous configuration keeps running. "
                        (errors.0.len()) " problem(s):" }
                    ul { @for e in &errors.0 { li { code { (e.to_string()) } } } }
                }
            },
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            html! { p.error { "The reload did not finish: " (e.to_string()) } },
        ),
    };
    let body = config_body(&state, &admin, None, outcome);
    (status, admin_page("Configuration", &admin, body)).into_response()
}
