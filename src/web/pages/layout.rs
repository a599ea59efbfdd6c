//! The page shell shared by every dashboard page, and the friendly error pages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::web::assets;

const HTMX_CONFIG: &str =
    r#"{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false}"#;

/// A whole page: head with the stylesheet and htmx, the top bar, then `body`.
pub fn page(title: &str, dark: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · anomstack" }
                link rel="stylesheet" href=(assets::url("app.css"));
                // What the Content-Security-Policy forbids, htmx is told not to try: no eval,
                // no inline <style> for its indicators (app.css has them).
                meta name="htmx-config" content=(HTMX_CONFIG);
                script src=(assets::url("htmx.min.js")) defer {}
                script src=(assets::url("app.js")) defer {}
            }
            body.dark[dark] {
                header.top {
                    a.brand href="/" { "anomstack" }
                    span.tagline { "Painless anomaly detection for your metrics 📈📉" }
                    nav {
                        a href="/" { "Batches" }
                        a href="/admin" { "Admin" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A 404 that says what was not found and links home.
pub fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            false,
            html! {
                h1 { "Not found" }
                p.notice { (what) " " a href="/" { "Back to all batches" } }
            },
        ),
    )
        .into_response()
}

/// A 500 for a failure the visitor cannot fix; the detail goes to the log only (it may name
/// files or hosts).
pub fn server_error(context: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "{context}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            "Error",
            false,
            html! {
                h1 { "Something went wrong" }
                p.error { "The page could not be built (" (context) "). The server log has the details." }
            },
        ),
    )
        .into_response()
}
