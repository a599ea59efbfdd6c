//! Admin sessions: a random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure over
//! HTTPS), its digest and a per-session CSRF token in the database, idle and absolute expiry.
//! [`Admin`] extracts a live session or answers for the visitor (a redirect to the login page,
//! or 401 for htmx and posts); [`AdminForm`] also checks the CSRF token of a state-changing
//! request, so a handler that takes one cannot forget to.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::disabled_page;
use crate::store::SessionRecord;
use crate::web::AppState;
use crate::web::secret_id::{constant_time_eq, digest, is_random_hex, random_hex};

pub const COOKIE: &str = "anomstack_session";
/// The header htmx requests carry the CSRF token in (set once on the page body).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Refresh `last_seen` at most this often, so browsing is not a write per request.
const TOUCH_EVERY_SECONDS: i64 = 60;

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct Admin {
    pub username: String,
    pub csrf_token: String,
    digest: String,
}

impl Admin {
    /// Ends this session.
    pub async fn logout(&self, state: &AppState) -> Result<(), crate::store::StoreError> {
        state.store.delete_session(&self.digest).await
    }
}

/// The session the request's cookie names, if it is live.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<Admin> {
    let settings = &state.admin.settings;
    let credentials = settings.credentials.as_ref()?;
    let id = crate::web::cookies::cookie(headers, COOKIE).filter(|id| is_random_hex(id))?;
    let digest = digest(&id);
    let record = match state.store.session(&digest).await {
        Ok(r) => r?,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a session");
            return None;
        }
    };
    let now = Utc::now().naive_utc();
    let idle = Duration::from_std(settings.session_idle).unwrap_or(Duration::hours(2));
    if record.expires_at <= now
        || record.last_seen + idle <= now
        || !constant_time_eq(&record.credential, &credential_digest(credentials))
    {
        let _ = state.store.delete_session(&digest).await;
        return None;
    }
    if now - record.last_seen >= Duration::seconds(TOUCH_EVERY_SECONDS)
        && let Err(e) = state.store.touch_session(&digest, now).await
    {
        tracing::warn!(error = %e, "cannot refresh a session");
    }
    Some(Admin {
        username: record.username,
        csrf_token: record.csrf_token,
        digest,
    })
}

/// Starts a session for `username` (always a new id: a session fixed before login is never
/// reused) and returns the `Set-Cookie` value.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
    client: &str,
) -> Result<HeaderValue, crate::store::StoreError> {
    let settings = &state.admin.settings;
    let credential = settings
        .credentials
        .as_ref()
        .map(credential_digest)
        .unwrap_or_default();
    let now = Utc::now().naive_utc();
    let max = Duration::from_std(settings.session_max).unwrap_or(Duration::hours(24));
    let idle = Duration::from_std(settings.session_idle).unwrap_or(Duration::hours(2));
    // Old sessions are swept at each login; the table stays as small as the live sessions.
    if let Err(e) = state.store.delete_expired_sessions(now, now - idle).await {
        tracing::warn!(error = %e, "cannot sweep expired sessions");
    }
    if let Some(old) = crate::web::cookies::cookie(headers, COOKIE).filter(|id| is_random_hex(id)) {
        state.store.delete_session(&digest(&old)).await?;
    }
    let id = random_hex();
    let record = SessionRecord {
        username: username.to_owned(),
        csrf_token: random_hex(),
        created_at: now,
        last_seen: now,
        expires_at: now + max,
        credential,
    };
    state
        .store
        .create_session(&digest(&id), &record, client)
        .await?;
    Ok(set_cookie(
        &id,
        max.num_seconds(),
        crate::web::cookies::secure(state, headers),
    ))
}

/// What a session remembers of the credentials it was opened with.
fn credential_digest(c: &crate::config::AdminCredentials) -> String {
    digest(&format!("{}\n{}", c.username, c.password_hash.expose()))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState, headers: &HeaderMap) -> HeaderValue {
    set_cookie("", 0, crate::web::cookies::secure(state, headers))
}

fn set_cookie(id: &str, max_age: i64, secure: bool) -> HeaderValue {
    let value = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Why a request did not reach an admin handler.
pub enum Denied {
    /// No credentials configured: the panel is off.
    Disabled,
    /// No live session: log in first.
    LoggedOut {
        htmx: bool,
        get: bool,
        next: String,
    },
    /// The request's CSRF token is missing or wrong.
    Forged,
    BadForm(String),
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Disabled => disabled_page(),
            Denied::LoggedOut { htmx, get, next } => {
                let login = format!("/admin/login?next={}", urlencode(&next));
                if htmx {
                    // htmx follows this header with a full page load.
                    let mut r = (
                        StatusCode::UNAUTHORIZED,
                        "Your session has ended; log in again.",
                    )
                        .into_response();
                    if let Ok(v) = HeaderValue::from_str(&login) {
                        r.headers_mut().insert("hx-redirect", v);
                    }
                    r
                } else if get {
                    Redirect::to(&login).into_response()
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        "You are not logged in (or your session has ended); log in at /admin/login.",
                    )
                        .into_response()
                }
            }
            Denied::Forged => (
                StatusCode::FORBIDDEN,
                "The form has expired or came from another site; reload the page and try again.",
            )
                .into_response(),
            Denied::BadForm(why) => (StatusCode::BAD_REQUEST, why).into_response(),
        }
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|q| q.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Denied> {
        // Found by `require_session` already: one session lookup per request.
        if let Some(admin) = parts.extensions.get::<Admin>() {
            return Ok(admin.clone());
        }
        if state.admin.settings.credentials.is_none() {
            return Err(Denied::Disabled);
        }
        match current(state, &parts.headers).await {
            Some(admin) => Ok(admin),
            None => Err(Denied::LoggedOut {
                htmx: parts.headers.contains_key("hx-request"),
                get: parts.method == Method::GET,
                next: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/admin".into()),
            }),
        }
    }
}

/// Runs before any admin route's extractors: a request without a live session is answered
/// as logged out before its path or form is read (`/admin/queue/abc` redirects to the login
/// page rather than saying the id is not a number). The login page itself is open.
pub async fn require_session(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if request.uri().path() == "/admin/login" {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    match Admin::from_request_parts(&mut parts, &state).await {
        Ok(admin) => {
            parts.extensions.insert(admin);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(denied) => denied.into_response(),
    }
}

/// A state-changing admin request: a live session, the session's CSRF token (form field
/// `csrf` or the `X-CSRF-Token` header), and the form `T`.
pub struct AdminForm<T> {
    pub admin: Admin,
    pub form: T,
}

/// Admin forms are small; anything bigger is not ours.
const MAX_FORM_BYTES: usize = 64 * 1024;

impl<T: DeserializeOwned> FromRequest<AppState> for AdminForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let header_token = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if bytes.len() > MAX_FORM_BYTES {
            return Err(Denied::BadForm("The form is too large.".into()).into_response());
        }
        #[derive(Deserialize)]
        struct Token {
            csrf: Option<String>,
        }
        let field_token = serde_urlencoded::from_bytes::<Token>(&bytes)
            .ok()
            .and_then(|t| t.csrf);
        let ok = [header_token, field_token]
            .into_iter()
            .flatten()
            .any(|t| constant_time_eq(&t, &admin.csrf_token));
        if !ok {
            return Err(Denied::Forged.into_response());
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
            Denied::BadForm(format!("The form could not be read: {e}")).into_response()
        })?;
        Ok(AdminForm { admin, form })
    }
}
