//! Brute-force protection for the login form. Failures are counted per (username, client
//! address): after `FREE_FAILURES` that pair is locked for a time that doubles with each
//! further failure (30 s, 1 min, 2 min, ... up to 15 min), so someone guessing from one place
//! never locks the real admin out from another. An address is also locked after
//! `FREE_FAILURES_PER_ADDRESS` failures whatever the usernames (one place trying many). Above that, a global ceiling: more than
//! `GLOBAL_FAILURES_PER_MINUTE` failures in a minute, from anywhere (a guesser rotating
//! addresses), pauses logins from addresses and browsers that have not logged in before, until
//! the rate falls; a browser with a past success (its device cookie, kept in the database
//! across restarts) or an address that logged in since the start keeps logging in. A success clears its pair.
//! In memory and bounded: a restart forgets, which costs an attacker nothing they could not
//! get by waiting, and the maps cannot grow without limit.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Failures allowed per (username, address) before the first lockout.
pub const FREE_FAILURES: u32 = 5;
/// Failures allowed per address, all usernames together.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// Failures per minute, all pairs together, before unknown addresses are paused.
pub const GLOBAL_FAILURES_PER_MINUTE: usize = 60;
const BASE_LOCK_SECONDS: i64 = 30;
const MAX_LOCK_SECONDS: i64 = 900;
const MAX_KEYS: usize = 10_000;
/// Addresses remembered for a past successful login.
const MAX_TRUSTED: usize = 1_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    locked_until: Option<DateTime<Utc>>,
    last: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    pairs: HashMap<String, Record>,
    /// Times of the newest failures, oldest first, at most the ceiling.
    recent: VecDeque<DateTime<Utc>>,
    /// Addresses that logged in, with when.
    trusted: HashMap<String, DateTime<Utc>>,
}

#[derive(Default)]
pub struct LoginLimiter {
    state: Mutex<State>,
}

impl LoginLimiter {
    /// When `username` may try again from `client`, if it may not now. `known_device`: the
    /// browser carries proof of an earlier login, which spares it the global pause.
    pub fn locked_until(
        &self,
        client: &str,
        username: &str,
        known_device: bool,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        // A poisoned lock fails closed: better a refused login than an unlimited one.
        let Ok(state) = self.state.lock() else {
            return Some(now + Duration::seconds(BASE_LOCK_SECONDS));
        };
        let locked = [key(client, username), address_key(client)]
            .iter()
            .filter_map(|k| state.pairs.get(k).and_then(|r| r.locked_until))
            .filter(|until| *until > now)
            .max();
        if locked.is_some() {
            return locked;
        }
        let minute_ago = now - Duration::seconds(60);
        let in_last_minute = state.recent.iter().filter(|t| **t > minute_ago).count();
        if in_last_minute >= GLOBAL_FAILURES_PER_MINUTE
            && !known_device
            && !state.trusted.contains_key(client)
        {
            // Until the oldest failure of the window leaves it.
            return state
                .recent
                .iter()
                .find(|t| **t > minute_ago)
                .map(|t| *t + Duration::seconds(60));
        }
        None
    }

    /// Counts an attempt (a failure until [`LoginLimiter::succeed`]).
    pub fn fail(&self, client: &str, username: &str, now: DateTime<Utc>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.recent.push_back(now);
        while state.recent.len() > GLOBAL_FAILURES_PER_MINUTE {
            state.recent.pop_front();
        }
        let pairs = &mut state.pairs;
        if pairs.len() >= MAX_KEYS {
            let stale = now - Duration::seconds(MAX_LOCK_SECONDS * 4);
            pairs.retain(|_, r| r.last > stale);
        }
        for (key, free) in [
            (key(client, username), FREE_FAILURES),
            (address_key(client), FREE_FAILURES_PER_ADDRESS),
        ] {
            // Full of recent keys (someone rotating addresses): forget the quietest one
            // rather than stop counting.
            while !pairs.contains_key(&key) && pairs.len() >= MAX_KEYS {
                let Some(oldest) = pairs
                    .iter()
                    .min_by_key(|(_, r)| (r.failures, r.last))
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                pairs.remove(&oldest);
            }
            let r = pairs.entry(key).or_insert(Record {
                failures: 0,
                locked_until: None,
                last: now,
            });
            r.failures = r.failures.saturating_add(1);
            r.last = now;
            // Past its free failures, a key's lock grows as a pair's does from its first.
            if r.failures >= free {
                r.locked_until = Some(now + lock_for(FREE_FAILURES + (r.failures - free)));
            }
        }
    }

    /// A successful login: its attempt was no failure, its pair is cleared, and its address
    /// is trusted through a global pause.
    pub fn succeed(&self, client: &str, username: &str, now: DateTime<Utc>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.pairs.remove(&key(client, username));
        state.pairs.remove(&address_key(client));
        // `fail` counted this attempt before the check.
        if let Some(at) = state.recent.iter().rposition(|t| *t <= now) {
            state.recent.remove(at);
        }
        if state.trusted.len() >= MAX_TRUSTED
            && let Some(oldest) = state
                .trusted
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(a, _)| a.clone())
        {
            state.trusted.remove(&oldest);
        }
        state.trusted.insert(client.to_owned(), now);
    }
}

/// How long the `failures`-th failure locks a pair.
fn lock_for(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(FREE_FAILURES).min(10);
    Duration::seconds((BASE_LOCK_SECONDS << doublings).min(MAX_LOCK_SECONDS))
}

/// The pair an attempt counts against (usernames compare as the login does, trimmed and
/// without case).
fn key(client: &str, username: &str) -> String {
    // Bounded: a 2 MB username must not become a 2 MB key kept for minutes.
    let username: String = username.trim().chars().take(128).collect();
    format!("pair\n{}\n{client}", username.to_lowercase())
}

/// The address an attempt counts against, whatever the username.
fn address_key(client: &str) -> String {
    format!("addr\n{client}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn the_lock_starts_after_the_free_failures_and_doubles() {
        let limiter = LoginLimiter::default();
        let t0 = t0();
        for _ in 0..FREE_FAILURES - 1 {
            limiter.fail("1.2.3.4", "Admin", t0);
            assert!(
                limiter
                    .locked_until("1.2.3.4", "admin", false, t0)
                    .is_none()
            );
        }
        limiter.fail("1.2.3.4", "Admin", t0);
        assert_eq!(
            limiter.locked_until("1.2.3.4", " admin", false, t0),
            Some(t0 + Duration::seconds(30))
        );
        let t1 = t0 + Duration::seconds(31);
        assert!(
            limiter
                .locked_until("1.2.3.4", "admin", false, t1)
                .is_none()
        );
        limiter.fail("1.2.3.4", "admin", t1);
        assert_eq!(
            limiter.locked_until("1.2.3.4", "admin", false, t1),
            Some(t1 + Duration::seconds(60))
        );
        assert_eq!(lock_for(100), Duration::seconds(MAX_LOCK_SECONDS));
        limiter.succeed("1.2.3.4", "admin", t1);
        assert!(
            limiter
                .locked_until("1.2.3.4", "admin", false, t1)
                .is_none()
        );
    }

    #[test]
    fn a_guesser_cannot_lock_the_admin_out_from_elsewhere() {
        let limiter = LoginLimiter::default();
        let t0 = t0();
        for _ in 0..50 {
            limiter.fail("6.6.6.6", "admin", t0);
        }
        assert!(
            limiter
                .locked_until("6.6.6.6", "admin", false, t0)
                .is_some()
        );
        assert!(
            limiter
                .locked_until("10.0.0.1", "admin", false, t0)
                .is_none()
        );
        // One place trying many usernames is locked as a place.
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            limiter.fail("5.5.5.5", &format!("user{i}"), t0);
        }
        assert!(
            limiter
                .locked_until("5.5.5.5", "someone-new", false, t0)
                .is_some()
        );
    }

    #[test]
    fn a_flood_from_many_addresses_pauses_unknown_ones_but_not_known_ones() {
        let limiter = LoginLimiter::default();
        let t0 = t0();
        limiter.fail("10.0.0.1", "admin", t0);
        limiter.succeed("10.0.0.1", "admin", t0);
        for i in 0..GLOBAL_FAILURES_PER_MINUTE {
            limiter.fail(&format!("6.6.{}.{}", i / 256, i % 256), "admin", t0);
        }
        let until = limiter.locked_until("7.7.7.7", "admin", false, t0);
        assert_eq!(until, Some(t0 + Duration::seconds(60)));
        assert!(
            limiter
                .locked_until("10.0.0.1", "admin", false, t0)
                .is_none()
        );
        // A browser that logged in before (its device cookie) is spared wherever it is.
        assert!(limiter.locked_until("8.8.8.8", "admin", true, t0).is_none());
        // The pause ends with the flood.
        let later = t0 + Duration::seconds(61);
        assert!(
            limiter
                .locked_until("7.7.7.7", "admin", false, later)
                .is_none()
        );
    }

    #[test]
    fn flooding_the_table_does_not_unlock_a_pair() {
        let limiter = LoginLimiter::default();
        let t0 = t0();
        for _ in 0..FREE_FAILURES {
            limiter.fail("10.0.0.9", "admin", t0);
        }
        let late = t0 + Duration::seconds(1);
        for i in 0..MAX_KEYS + 50 {
            limiter.fail(&format!("flood-{i}"), "x", late);
        }
        // Past the global pause, the locked pair is still locked.
        let t = t0 + Duration::seconds(20);
        limiter.succeed("10.0.0.9", "other", t);
        assert!(
            limiter
                .locked_until("10.0.0.9", "admin", false, t)
                .is_some()
        );
        assert!(limiter.state.lock().map(|s| s.pairs.len()).unwrap_or(0) <= MAX_KEYS);
    }
}
