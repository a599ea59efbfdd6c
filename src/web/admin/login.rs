//! `/admin/login` and `/admin/logout`. The login form is protected against login CSRF by the
//! double-submit cookie; the password is checked with argon2 on a blocking thread, the username
//! in constant time, and both always, so timing does not tell which was wrong. Failures are
//! rate limited per client and per username, and every failure gets the same message.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::disabled_page;
use super::session;
use crate::config::Secret;
use crate::password::verify_password;
use crate::web::pages::layout::{page, server_error};
use crate::web::rate_limit::client_ip;
use crate::web::secret_id::{constant_time_eq, digest, is_random_hex, random_hex};
use crate::web::{AppState, csrf};

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    if state.admin.settings.credentials.is_none() {
        return disabled_page();
    }
    let next = safe_next(q.next.as_deref());
    if session::current(&state, &headers).await.is_some() {
        return Redirect::to(&next).into_response();
    }
    form_response(&state, &headers, &next, "", None, StatusCode::OK)
}

/// The login form. No `Debug`: it holds the password.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(credentials) = state.admin.settings.credentials.clone() else {
        return disabled_page();
    };
    let next = safe_next(form.next.as_deref());
    if !csrf::matches(&headers, &form.csrf) {
        return form_response(
            &state,
            &headers,
            &next,
            &form.username,
            Some("The form expired; please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let client = client_ip(&headers, connect.map(|Extension(ConnectInfo(a))| a));
    let now = Utc::now();
    let known = known_device(&state, &headers, &form.username, now).await;
    if let Some(until) = state
        .admin
        .limiter
        .locked_until(&client, &form.username, known, now)
    {
        let wait = (until - now).num_seconds().max(1);
        tracing::warn!(client, "admin login refused: too many failed attempts");
        let mut r = form_response(
            &state,
            &headers,
            &next,
            &form.username,
            Some(&format!("Too many failed attempts. Try again in {wait} s.")),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // argon2 takes ~19 MiB and tens of milliseconds per check: a few at a time, so a flood of
    // logins cannot exhaust a small machine's memory.
    let Ok(permit) = state.admin.verifying.clone().try_acquire_owned() else {
        return form_response(
            &state,
            &headers,
            &next,
            &form.username,
            Some("Too many logins at once. Try again in a moment."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    };
    // Counted before checking, so parallel guesses cannot all pass the lock above.
    state.admin.limiter.fail(&client, &form.username, now);
    let password = Secret::new(form.password);
    let username = form.username.trim().to_owned();
    let expected = credentials.username.clone();
    let hash = credentials.password_hash.clone();
    let given = username.clone();
    let verified = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let user_ok = constant_time_eq(&given, &expected);
        let password_ok = verify_password(password.expose(), hash.expose()).unwrap_or(false);
        user_ok & password_ok
    })
    .await
    .unwrap_or(false);
    if !verified {
        tracing::warn!(client, "admin login failed");
        return form_response(
            &state,
            &headers,
            &next,
            &username,
            Some("Wrong username or password."),
            StatusCode::UNAUTHORIZED,
        );
    }
    state.admin.limiter.succeed(&client, &form.username, now);
    match session::start(&state, &headers, &username, &client).await {
        Ok(cookie) => {
            tracing::info!(client, user = username, "admin logged in");
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            if let Some(device) = remember_device(&state, &headers, &username, now).await {
                r.headers_mut().append(header::SET_COOKIE, device);
            }
            r
        }
        Err(e) => server_error("starting a session", &e),
    }
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::session::AdminForm { admin, .. }: super::session::AdminForm<super::NoFields>,
) -> Response {
    if let Err(e) = admin.logout(&state).await {
        return server_error("ending the session", &e);
    }
    tracing::info!(user = admin.username, "admin logged out");
    let mut r = Redirect::to("/admin/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&state, &headers));
    r
}

/// The cookie that says this browser logged in before (a random id; the database keeps its
/// digest), sent only to the login form.
const DEVICE_COOKIE: &str = "anomstack_device";
/// How long a browser stays known without logging in again.
const DEVICE_DAYS: i64 = 90;

/// Whether the browser's device cookie names an earlier login of `username`.
async fn known_device(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
    now: chrono::DateTime<Utc>,
) -> bool {
    let Some(id) =
        crate::web::cookies::cookie(headers, DEVICE_COOKIE).filter(|id| is_random_hex(id))
    else {
        return false;
    };
    let since = (now - chrono::Duration::days(DEVICE_DAYS)).naive_utc();
    state
        .store
        .known_device(&digest(&id), username.trim(), since)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot look up an admin device");
            false
        })
}

/// Remembers this browser for `username` (a new id each login) and returns its cookie.
async fn remember_device(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
    now: chrono::DateTime<Utc>,
) -> Option<HeaderValue> {
    let id = random_hex();
    let unused_before = (now - chrono::Duration::days(DEVICE_DAYS)).naive_utc();
    if let Err(e) = state
        .store
        .remember_device(&digest(&id), username, now.naive_utc(), unused_before)
        .await
    {
        tracing::warn!(error = %e, "cannot remember an admin device");
        return None;
    }
    let secure = crate::web::cookies::secure(state, headers);
    let cookie = format!(
        "{DEVICE_COOKIE}={id}; Path=/admin/login; HttpOnly; SameSite=Strict; Max-Age={}{}",
        DEVICE_DAYS * 86_400,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// Where to go after logging in: an admin path (or an incident's page, whose buttons need a
/// session) on this site, never another host.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with("/admin") || n.starts_with("/incidents/"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/admin".to_owned(),
    }
}

fn form_response(
    state: &AppState,
    headers: &HeaderMap,
    next: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, cookie) = csrf::token(headers, crate::web::cookies::secure(state, headers));
    let mut r = (status, login_form(&token, next, username, error)).into_response();
    if let Some(c) = cookie {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

fn login_form(token: &str, next: &str, username: &str, error: Option<&str>) -> Markup {
    page(
        "Admin login",
        false,
        html! {
            section.login {
                h1 { "Admin login" }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/admin/login" {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    label { "Username" input type="text" name="username" value=(username)
                        autocomplete="username" required autofocus; }
                    label { "Password" input type="password" name="password"
                        autocomplete="current-password" required; }
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}
