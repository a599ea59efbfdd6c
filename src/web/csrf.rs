//! CSRF protection for forms that change state: a random token in a `SameSite=Strict`,
//! HttpOnly cookie, repeated in each form; a post is accepted only when both agree (the
//! double-submit pattern), so another site can neither read the token nor send the cookie.

use axum::http::{HeaderMap, HeaderValue};
use password_hash::rand_core::{OsRng, RngCore};

use super::cookies::cookie;
use super::secret_id::constant_time_eq;

const COOKIE: &str = "anomstack_csrf";

/// The visitor's token, and the `Set-Cookie` value when a new one had to be made (`Secure`
/// when `secure`, as the session cookie).
pub fn token(headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) = from_cookie(headers) {
        return (existing, None);
    }
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000{}",
        if secure { "; Secure" } else { "" }
    );
    (token, HeaderValue::from_str(&cookie).ok())
}

/// Whether a form's token is the visitor's cookie token (compared in constant time).
pub fn matches(headers: &HeaderMap, submitted: &str) -> bool {
    from_cookie(headers).is_some_and(|expected| constant_time_eq(&expected, submitted))
}

fn from_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE).filter(|v| v.len() == 48 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn a_token_round_trips_through_its_cookie_and_nothing_else_matches() {
        let (_, secure) = token(&HeaderMap::new(), true);
        assert!(secure.unwrap().to_str().unwrap().ends_with("; Secure"));
        let (token, cookie) = token(&HeaderMap::new(), false);
        let cookie = cookie.unwrap();
        assert!(!cookie.to_str().unwrap().contains("Secure"));
        assert!(
            cookie
                .to_str()
                .unwrap()
                .contains("SameSite=Strict; Max-Age")
        );
        let mut headers = HeaderMap::new();
        let pair = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {pair}")).unwrap(),
        );
        assert!(matches(&headers, &token));
        assert!(!matches(&headers, &token.replace(&token[..1], "z")));
        assert!(!matches(&headers, ""));
        assert!(!matches(&HeaderMap::new(), &token));
        let (again, none) = super::token(&headers, false);
        assert_eq!(again, token);
        assert!(none.is_none());
    }
}
