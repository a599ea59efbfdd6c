//! The operator's side of the app under `/admin`: login (argon2), sessions, CSRF, and pages to
//! watch the queue, run any job, browse run history, switch schedules, silence alerts, read the
//! effective configuration, reload it, and manage API tokens. Every page needs a session;
//! every state-changing request goes through [`session::AdminForm`], which checks CSRF.

mod config_view;
mod feedback;
mod incidents;
mod jobs;
mod login;
pub mod login_limit;
mod overview;
mod runs;
pub mod session;
mod silences;
mod tokens;

use axum::Router;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
use super::pages::layout::page;
use crate::config::AdminSettings;
use login_limit::LoginLimiter;
use session::{Admin, CSRF_HEADER};

/// The admin settings and the login limiter, shared by every request.
pub struct AdminAuth {
    pub settings: AdminSettings,
    pub limiter: LoginLimiter,
    /// Password checks allowed at once.
    pub verifying: std::sync::Arc<tokio::sync::Semaphore>,
}

/// argon2 checks at once (each holds ~19 MiB for tens of milliseconds).
const CONCURRENT_PASSWORD_CHECKS: usize = 2;

impl AdminAuth {
    pub fn new(settings: AdminSettings) -> Self {
        Self {
            settings,
            limiter: LoginLimiter::default(),
            verifying: std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_PASSWORD_CHECKS)),
        }
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview::overview))
        .route("/admin/", get(overview::overview))
        .route("/admin/login", get(login::login_page).post(login::login))
        .route("/admin/logout", post(login::logout))
        .route("/admin/batch/{batch}", get(jobs::batch_jobs))
        .route("/admin/batch/{batch}/run/{job}", post(jobs::run_job))
        .route(
            "/admin/batch/{batch}/metric/{metric}/feedback/reset",
            post(feedback::reset),
        )
        .route(
            "/admin/batch/{batch}/schedule/{job}",
            post(jobs::set_schedule),
        )
        .route(
            "/admin/incidents/{id}/acknowledge",
            post(incidents::acknowledge),
        )
        .route("/admin/incidents/{id}/resolve", post(incidents::resolve))
        .route("/admin/summary/run", post(jobs::run_summary_job))
        .route("/admin/queue/{id}", get(jobs::progress))
        .route("/admin/runs", get(runs::run_list))
        .route("/admin/runs/{id}", get(runs::run_detail))
        .route(
            "/admin/silences",
            get(silences::silence_list).post(silences::create),
        )
        .route("/admin/silences/{id}/expire", post(silences::expire))
        .route("/admin/config", get(config_view::config_page))
        .route("/admin/config/reload", post(config_view::reload))
        .route(
            "/admin/tokens",
            get(tokens::token_list).post(tokens::create),
        )
        .route("/admin/tokens/{id}/revoke", post(tokens::revoke))
        // The session is checked before anything of the request is parsed.
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            session::require_session,
        ))
        // Admin pages show one-time API tokens, run logs and configuration: keep them out of
        // browser and proxy caches (the back button after logout must not show them).
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoFields {}

/// An admin page: the admin menu, a logout button, and the session's CSRF token on every htmx
/// request made from inside it.
fn admin_page(title: &str, admin: &Admin, body: Markup) -> Markup {
    let headers = serde_json::json!({ CSRF_HEADER: admin.csrf_token }).to_string();
    page(
        title,
        false,
        html! {
            div.admin hx-headers=(headers) {
                nav.admin-nav aria-label="Admin" {
                    a href="/admin" { "Overview" }
                    a href="/admin/runs" { "Runs" }
                    a href="/admin/silences" { "Silences" }
                    a href="/admin/config" { "Config" }
                    a href="/admin/tokens" { "API tokens" }
                    form.inline method="post" action="/admin/logout" {
                        (csrf_field(admin))
                        span.muted { "Signed in as " (admin.username) " " }
                        button.link type="submit" { "Log out" }
                    }
                }
                (body)
            }
        },
    )
}

/// The hidden CSRF field every admin form carries.
pub(crate) fn csrf_field(admin: &Admin) -> Markup {
    html! { input type="hidden" name="csrf" value=(admin.csrf_token); }
}

/// What `/admin/*` answers when no credentials are configured.
pub(crate) fn disabled_page() -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            "Admin panel is off",
            false,
            html! {
                h1 { "The admin panel is off" }
                p { "No admin credentials are configured, and there is no default password. To turn it on:" }
                ol {
                    li { "Run " code { "anomstack hash-password" } " and copy the hash it prints." }
                    li { "Set " code { "ANOMSTACK_ADMIN_USERNAME" } " and " code { "ANOMSTACK_ADMIN_PASSWORD_HASH" }
                        " (in " code { ".env" } ", or with " code { "fly secrets set" } ")." }
                    li { "Restart anomstack and open " a href="/admin/login" { "/admin/login" } "." }
                }
                p.muted { "ANOMSTACK_ADMIN_PASSWORD also works (hashed at startup, never stored), but a hash keeps the clear text out of your environment." }
            },
        ),
    )
        .into_response()
}

/// A short flash message shown at the top of a page after an action.
fn flash(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.notice role="status" { (m) }
        }
    }
}

/// "3 min 20 s" style durations for tables. Run times are stored to the second, so anything
/// shorter reads "< 1 s".
fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0 => "< 1 s".to_owned(),
        1..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(chrono::Duration::milliseconds(250)), "< 1 s");
        assert_eq!(human_duration(chrono::Duration::seconds(42)), "42 s");
        assert_eq!(human_duration(chrono::Duration::seconds(200)), "3 min 20 s");
        assert_eq!(human_duration(chrono::Duration::seconds(7300)), "2 h 1 min");
    }
}
