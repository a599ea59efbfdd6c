//! Brute-force protection for the login form: failures are counted per client address and
//! per username; after `FREE_FAILURES` a key is locked for a time that doubles with each
//! further failure (30 s, 1 min, 2 min, ... up to 15 min). A success clears both keys.
//! In memory and bounded: a restart forgets, which costs an attacker nothing they could not
//! get by waiting, and the map cannot grow without limit.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Failures allowed before the first lockout.
pub const FREE_FAILURES: u32 = 5;
const BASE_LOCK_SECONDS: i64 = 30;
const MAX_LOCK_SECONDS: i64 = 900;
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    locked_until: Option<DateTime<Utc>>,
    last: DateTime<Utc>,
}

#[derive(Default)]
pub struct LoginLimiter {
    records: Mutex<HashMap<String, Record>>,
}

impl LoginLimiter {
    /// When the earliest of `keys` may try again, if any is locked now.
    pub fn locked_until(&self, keys: &[String], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // A poisoned lock fails closed: better a refused login than an unlimited one.
        let Ok(records) = self.records.lock() else {
            return Some(now + Duration::seconds(BASE_LOCK_SECONDS));
        };
        keys.iter()
            .filter_map(|k| records.get(k).and_then(|r| r.locked_until))
            .filter(|until| *until > now)
            .max()
    }

    /// Counts an attempt (a failure until [`LoginLimiter::succeed`]) against every key.
    pub fn fail(&self, keys: &[String], now: DateTime<Utc>) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        if records.len() >= MAX_KEYS {
            let stale = now - Duration::seconds(MAX_LOCK_SECONDS * 4);
            records.retain(|_, r| r.last > stale);
        }
        for key in keys {
            // Full of recent keys (someone rotating addresses): forget the quietest one rather
            // than stop counting, so flooding the table cannot unlock a username.
            while !records.contains_key(key) && records.len() >= MAX_KEYS {
                let Some(oldest) = records
                    .iter()
                    .min_by_key(|(_, r)| (r.failures, r.last))
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                records.remove(&oldest);
            }
            let r = records.entry(key.clone()).or_insert(Record {
                failures: 0,
                locked_until: None,
                last: now,
            });
            r.failures = r.failures.saturating_add(1);
            r.last = now;
            if r.failures >= FREE_FAILURES {
                r.locked_until = Some(now + lock_for(r.failures));
            }
        }
    }

    /// A successful login clears its keys.
    pub fn succeed(&self, keys: &[String]) {
        if let Ok(mut records) = self.records.lock() {
            for key in keys {
                records.remove(key);
            }
        }
    }
}

/// How long the `failures`-th failure locks a key.
fn lock_for(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(FREE_FAILURES).min(10);
    Duration::seconds((BASE_LOCK_SECONDS << doublings).min(MAX_LOCK_SECONDS))
}

/// The keys an attempt counts against.
pub fn keys(client: &str, username: &str) -> Vec<String> {
    vec![
        format!("ip:{client}"),
        format!("user:{}", username.trim().to_lowercase()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_starts_after_the_free_failures_and_doubles() {
        let limiter = LoginLimiter::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let k = keys("1.2.3.4", "Admin");
        for _ in 0..FREE_FAILURES - 1 {
            limiter.fail(&k, t0);
            assert!(limiter.locked_until(&k, t0).is_none());
        }
        limiter.fail(&k, t0);
        assert_eq!(
            limiter.locked_until(&k, t0),
            Some(t0 + Duration::seconds(30))
        );
        // Another address trying the same user is locked too; another user from a new address is not.
        assert!(
            limiter
                .locked_until(&keys("5.6.7.8", "admin"), t0)
                .is_some()
        );
        assert!(
            limiter
                .locked_until(&keys("5.6.7.8", "other"), t0)
                .is_none()
        );
        let t1 = t0 + Duration::seconds(31);
        assert!(limiter.locked_until(&k, t1).is_none());
        limiter.fail(&k, t1);
        assert_eq!(
            limiter.locked_until(&k, t1),
            Some(t1 + Duration::seconds(60))
        );
        assert_eq!(lock_for(100), Duration::seconds(MAX_LOCK_SECONDS));
        limiter.succeed(&k);
        assert!(limiter.locked_until(&k, t1).is_none());
    }

    #[test]
    fn flooding_the_table_does_not_unlock_a_user() {
        let limiter = LoginLimiter::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let target = keys("10.0.0.1", "admin");
        for _ in 0..FREE_FAILURES {
            limiter.fail(&target, t0);
        }
        for i in 0..MAX_KEYS + 50 {
            limiter.fail(&[format!("ip:flood-{i}")], t0);
        }
        assert!(
            limiter
                .locked_until(&keys("10.9.9.9", "admin"), t0)
                .is_some()
        );
        assert!(limiter.records.lock().unwrap().len() <= MAX_KEYS);
    }
}
