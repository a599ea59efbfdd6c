//! Reading a cookie from a request's `Cookie` headers, and whether the cookies we set get
//! the `Secure` flag.

use axum::http::{HeaderMap, header};

use super::AppState;

/// Whether cookies get the `Secure` flag: as configured (`ANOMSTACK_COOKIE_SECURE`), else
/// when the request came over HTTPS (directly or, on Fly, through its TLS-terminating proxy).
/// Every cookie the app sets asks this, session and CSRF alike.
pub fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.admin.settings.cookie_secure.unwrap_or_else(|| {
        headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    })
}

/// The value of cookie `name`, if the request sent one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}
