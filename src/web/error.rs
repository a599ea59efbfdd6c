//! One error type for every handler ([`WebError`]) and the one place it is rendered
//! ([`render_errors`]): as `{"error": "..."}` under `/api/`, as a fragment for an htmx
//! request, and as a page with a way home otherwise. A handler says what went wrong, never
//! how it looks; an internal error's detail goes to the log only (it may name files or hosts).

use std::fmt;

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::json;

use super::pages::layout;

/// What went wrong in a request, in words for the person or script that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebError {
    NotFound(String),
    BadRequest(String),
    Forbidden(String),
    /// What was asked for is done already (a feedback link used twice).
    Conflict(String),
    /// What was asked for is no longer there to have (an expired link).
    Gone(String),
    /// What was being done when the server failed (the error itself is logged).
    Internal(String),
}

impl WebError {
    /// A failure the visitor cannot fix: `error` is logged, `doing` is shown.
    pub fn internal(doing: &str, error: &dyn fmt::Display) -> Self {
        tracing::error!(error = %error, "{doing}");
        WebError::Internal(doing.to_owned())
    }

    /// The batch named in the path is not there (or not shown).
    pub fn no_batch(name: &str) -> Self {
        WebError::NotFound(format!("There is no batch named “{name}”."))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Gone(_) => StatusCode::GONE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The sentence shown.
    pub fn message(&self) -> String {
        match self {
            WebError::NotFound(m)
            | WebError::BadRequest(m)
            | WebError::Forbidden(m)
            | WebError::Conflict(m)
            | WebError::Gone(m) => m.clone(),
            WebError::Internal(doing) => {
                format!("{doing} failed; the server log has the details")
            }
        }
    }

    fn title(&self) -> &'static str {
        match self {
            WebError::NotFound(_) => "Not found",
            WebError::BadRequest(_) => "Bad request",
            WebError::Forbidden(_) => "Forbidden",
            WebError::Conflict(_) => "Already done",
            WebError::Gone(_) => "Expired",
            WebError::Internal(_) => "Something went wrong",
        }
    }

    fn render(&self, flavor: Flavor) -> Response {
        let body = match flavor {
            Flavor::Json => Json(json!({ "error": self.message() })).into_response(),
            Flavor::Fragment => html! { p.error role="alert" { (self.message()) } }.into_response(),
            Flavor::Page => layout::page(
                self.title(),
                false,
                html! {
                    h1 { (self.title()) }
                    p.notice { (self.message()) " " a href="/" { "Back to all batches" } }
                },
            )
            .into_response(),
        };
        (self.status(), body).into_response()
    }
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for WebError {}

/// A handler's error travels in the response's extensions to [`render_errors`], which
/// knows the route and the request.
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// How an error is shown to whoever asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Json,
    Fragment,
    Page,
}

impl Flavor {
    fn of(request: &Request) -> Self {
        if request.uri().path().starts_with("/api/") {
            Flavor::Json
        } else if request.headers().contains_key("hx-request") {
            Flavor::Fragment
        } else {
            Flavor::Page
        }
    }
}

/// Middleware rendering any [`WebError`] a handler returned, as its route and request want.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let flavor = Flavor::of(&request);
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<WebError>() else {
        return response;
    };
    let mut rendered = error.render(flavor);
    // Headers the inner layers set (the admin's `Cache-Control: no-store`, cookies) stay;
    // the body's own describe the rendered body.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_show_what_failed_not_why() {
        let e = WebError::internal("reading the series", &"disk /secret/path unreadable");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.message().contains("reading the series failed"));
        assert!(!e.message().contains("/secret/path"));
    }

    #[test]
    fn each_kind_has_its_status() {
        assert_eq!(WebError::no_batch("x").status(), StatusCode::NOT_FOUND);
        assert_eq!(
            WebError::BadRequest(String::new()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            WebError::Forbidden(String::new()).status(),
            StatusCode::FORBIDDEN
        );
    }
}
