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

/// The visitor's address for rate limiting: on Fly, the address its proxy puts in
/// `Fly-Client-IP` (anywhere else a client could forge that header), else the socket's peer.
/// IPv6 clients are grouped by /64, the block one subscriber usually holds, so rotating
/// addresses within it gains nothing.
pub fn client_ip(headers: &axum::http::HeaderMap, peer: Option<std::net::SocketAddr>) -> String {
    client_key(headers, peer, behind_fly_proxy())
}

fn behind_fly_proxy() -> bool {
    static ON_FLY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON_FLY.get_or_init(|| std::env::var_os("FLY_APP_NAME").is_some())
}

fn client_key(
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trust_fly_header: bool,
) -> String {
    use std::net::IpAddr;
    let from_proxy = trust_fly_header
        .then(|| headers.get("fly-client-ip"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    match from_proxy.or_else(|| peer.map(|p| p.ip())) {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
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

    #[test]
    fn the_fly_header_counts_only_behind_fly_and_ipv6_groups_by_64() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("fly-client-ip", "203.0.113.9".parse().unwrap());
        let peer = Some("192.0.2.1:5000".parse().unwrap());
        assert_eq!(client_key(&h, peer, true), "203.0.113.9");
        assert_eq!(client_key(&h, peer, false), "192.0.2.1", "forged elsewhere");
        let a = Some("[2001:db8:1:2:aaaa::1]:1".parse().unwrap());
        let b = Some("[2001:db8:1:2:bbbb::9]:1".parse().unwrap());
        let empty = axum::http::HeaderMap::new();
        assert_eq!(client_key(&empty, a, false), client_key(&empty, b, false));
        assert_eq!(client_key(&empty, None, false), "unknown");
    }
}
