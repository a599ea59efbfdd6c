//! A per-client fixed-window rate limit for public write endpoints (feedback without an
//! admin session). Bounded: old windows are dropped, and past `MAX_CLIENTS` distinct clients
//! in one window new ones are refused rather than remembered.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

const MAX_CLIENTS: usize = 10_000;

pub struct RateLimiter {
    per_minute: u32,
    state: Mutex<(i64, HashMap<String, u32>)>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            state: Mutex::new((0, HashMap::new())),
        }
    }

    /// Counts one request from `client`; whether it is within the limit.
    pub fn allow(&self, client: &str, now: DateTime<Utc>) -> bool {
        let minute = now.timestamp().div_euclid(60);
        let Ok(mut guard) = self.state.lock() else {
            return false;
        };
        let (window, counts) = &mut *guard;
        if *window != minute {
            *window = minute;
            counts.clear();
        }
        if !counts.contains_key(client) && counts.len() >= MAX_CLIENTS {
            return false;
        }
        let n = counts.entry(client.to_owned()).or_insert(0);
        *n += 1;
        *n <= self.per_minute
    }
}

/// The visitor's address for rate limiting: Fly's proxy header when there is one (set by the
/// proxy, not the client), else the socket's peer.
pub fn client_ip(headers: &axum::http::HeaderMap, peer: Option<std::net::SocketAddr>) -> String {
    headers
        .get("fly-client-ip")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| peer.map(|p| p.ip().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn each_client_gets_its_quota_per_minute() {
        let limiter = RateLimiter::new(3);
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!((0..3).all(|_| limiter.allow("a", t)));
        assert!(!limiter.allow("a", t));
        assert!(limiter.allow("b", t));
        assert!(limiter.allow("a", t + Duration::minutes(1)));
    }
}
