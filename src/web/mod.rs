//! The HTTP server: one axum router assembled from small per-area routers, with the
//! middleware stack (error rendering, tracing, timeout, panic guard, compression, security
//! headers) applied once here.

pub mod admin;
mod api;
mod api_write;
mod assets;
mod cookies;
mod csrf;
mod dashboard_batch;
mod error;
mod health;
mod mcp;
mod pages;
mod prometheus;
mod rate_limit;
pub mod secret_id;
mod stats_cache;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use dashboard_batch::DashboardBatch;
pub use error::WebError;

use crate::config::LiveConfig;
use crate::jobs::Services;
use crate::store::Store;
use rate_limit::RateLimiter;
use stats_cache::StatsCache;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<LiveConfig>,
    /// `ANOMSTACK_PUBLIC_FEEDBACK`: visitors without an admin session may give feedback
    /// (rate limited per client).
    pub public_feedback: bool,
    feedback_limiter: Arc<RateLimiter>,
    stats: StatsCache,
    /// Admin credentials, session settings and the login limiter.
    pub admin: Arc<admin::AdminAuth>,
    /// What jobs run by a request use (a push's ingest; the metric page's model store):
    /// the same database as `store`.
    pub services: Services,
    /// How often an embedded replica syncs (`/health` calls it behind after three misses).
    pub replica_sync: std::time::Duration,
    /// The key that signs alert feedback links, once read.
    link_key: Arc<std::sync::OnceLock<crate::feedback_link::LinkKey>>,
}

/// Feedback posts per client and minute when feedback is public.
const FEEDBACK_PER_MINUTE: u32 = 30;

impl AppState {
    pub fn new(store: Store, config: Arc<LiveConfig>) -> Self {
        Self {
            store: store.clone(),
            config,
            public_feedback: false,
            feedback_limiter: Arc::new(RateLimiter::new(FEEDBACK_PER_MINUTE)),
            stats: StatsCache::default(),
            admin: Arc::new(admin::AdminAuth::new(
                crate::config::AdminSettings::default(),
            )),
            services: Services::local(store),
            replica_sync: std::time::Duration::from_secs(15),
            link_key: Arc::default(),
        }
    }

    /// The process's services, and their database as the pages' (see [`Services`]).
    pub fn with_services(mut self, services: Services) -> Self {
        self.store = services.store.clone();
        self.services = services;
        self
    }

    /// Turns the admin panel on with these credentials and session settings.
    pub fn with_admin(mut self, settings: crate::config::AdminSettings) -> Self {
        self.admin = Arc::new(admin::AdminAuth::new(settings));
        self
    }

    pub fn with_replica_sync(mut self, every: std::time::Duration) -> Self {
        self.replica_sync = every;
        self
    }

    pub fn with_public_feedback(mut self, public: bool) -> Self {
        self.public_feedback = public;
        self
    }
}

/// What pages may load and who may frame them: our own scripts, styles, fonts and images
/// only (no inline script, no eval; htmx is configured not to need them), no plugins, forms
/// posting only here, and framing only by the app itself (clickjacking of admin buttons).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// Headers every response carries, unless a handler set its own.
fn security_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        // Links to other sites do not carry batch names and anomaly filters along.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ),
    ]
}

/// Requests slower than this are answered 408, so a stuck query cannot hold a connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(health::router())
        .merge(assets::router())
        .merge(api::router())
        .merge(api_write::router())
        .merge(mcp::router(&state))
        .merge(prometheus::router())
        .merge(pages::router())
        .merge(admin::router(state.clone()))
        .fallback(|| async { WebError::NotFound("There is no page at this address.".into()) })
        .with_state(state)
        .layer(axum::middleware::from_fn(error::render_errors))
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http());
    for (name, value) in security_headers() {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    app
}
