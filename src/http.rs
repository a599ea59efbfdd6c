//! The HTTP client every outbound call uses (alert channels, LLMs, BigQuery, Snowflake,
//! ClickHouse): rustls on ring, the system's certificates.

use std::time::Duration;

/// Makes rustls use ring (already built for libsql) in this process; call before building a
/// reqwest client. Installing twice is harmless: the first provider stays.
pub fn tls_ready() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client whose every request gives up after `timeout`.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    tls_ready();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("anomstack/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A reqwest error without its URL (webhook and API URLs often embed a token).
pub fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    match e.status() {
        Some(s) => format!("{kind} (HTTP {s})"),
        None => kind.to_owned(),
    }
}
