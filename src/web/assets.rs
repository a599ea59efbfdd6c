//! The dashboard's static files (vendored htmx, our few lines of script, the stylesheet), compiled into the binary so a
//! deployment is one file and the pages work offline. Pages link them with the build's
//! commit in the query string, so browsers may cache them for a long time.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::version;

const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/htmx.min.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "theme.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/theme.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{file}", get(asset))
}

/// The URL of an asset for this build.
pub fn url(file: &str) -> String {
    format!("/assets/{file}?v={}", version::COMMIT)
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some((_, mime, body)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=604800"),
            ),
        ],
        *body,
    )
        .into_response()
}
