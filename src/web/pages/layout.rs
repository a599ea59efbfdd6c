//! The page shell shared by every dashboard page, and the friendly error pages.

use crate::web::WebError;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::web::assets;

const HTMX_CONFIG: &str =
    r#"{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false}"#;

/// A whole page: head with the stylesheet, theme and htmx, the top bar, then `body`. `dark`:
/// the link asked for the dark theme (`?theme=dark`); otherwise the visitor's choice or the OS's.
pub fn page(title: &str, dark: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" data-theme=[dark.then_some("dark")] {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · anomstack" }
                link rel="stylesheet" href=(assets::url("app.css"));
                // What the Content-Security-Policy forbids, htmx is told not to try: no eval,
                // no inline <style> for its indicators (app.css has them).
                meta name="htmx-config" content=(HTMX_CONFIG);
                // Not deferred: it sets the theme before the first paint.
                script src=(assets::url("theme.js")) {}
                script src=(assets::url("htmx.min.js")) defer {}
                script src=(assets::url("app.js")) defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "anomstack" }
                    span.tagline { "Painless anomaly detection for your metrics 📈📉" }
                    nav {
                        a href="/" { "Overview" }
                        a href="/incidents" { "Incidents" }
                        a href="/admin" { "Admin" }
                        // Shown by app.js, which runs it; without script there is nothing to toggle.
                        button #theme-toggle type="button" hidden aria-pressed="false" { "Theme" }
                    }
                }
                main {
                    // Filled only when the database is behind (see `/health/banner`).
                    div #db-status hx-get="/health/banner" hx-trigger="load" hx-swap="outerHTML" {}
                    (body)
                }
            }
        }
    }
}

/// A 404 saying what was not found (see [`WebError`], which renders it).
pub fn not_found(what: &str) -> Response {
    WebError::NotFound(what.to_owned()).into_response()
}

/// A 500 for a failure the visitor cannot fix (see [`WebError::internal`]).
pub fn server_error(context: &str, error: &dyn std::fmt::Display) -> Response {
    WebError::internal(context, error).into_response()
}
