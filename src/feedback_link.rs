//! The "useful / not useful" links in alert messages: a token that lets whoever holds it give
//! one verdict on one alert, without a login, until it expires.
//!
//! A token is `payload.mac`, both base64url: the payload is the claim as JSON (batch, metric,
//! the alert's time, the verdict, the expiry and a random nonce), the mac an HMAC-SHA256 of it
//! under a key only the server knows, prefixed with this link's purpose so no other signed
//! value can pass for it. The nonce makes every token unique, so the server can refuse a
//! second use of the same one (see `Store::spend_link`). Pure: the key and the clock come in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use password_hash::rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::Feedback;
use crate::timestamp::{format_db, parse_lenient};

/// What the mac covers besides the payload: a token for anything else never verifies here.
const PURPOSE: &[u8] = b"anomstack feedback link v1\n";

/// The confirmation form's mac: of a token, for the form that spends it.
const CONFIRM_PURPOSE: &[u8] = b"anomstack feedback link confirmation v1\n";

/// The longest token read (a metric name is at most a few hundred bytes).
const MAX_TOKEN: usize = 4096;

/// The server's signing key (32 random bytes, kept in the database).
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl LinkKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The HMAC of `data` for `purpose`: a mac made for one purpose never passes for another.
    fn mac(&self, purpose: &[u8], data: &str) -> Hmac<Sha256> {
        // An HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(purpose);
        mac.update(data.as_bytes());
        mac
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// What a link lets its holder do: give `verdict` on `metric`'s alert at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub batch: String,
    pub metric: String,
    pub at: NaiveDateTime,
    pub verdict: Feedback,
    /// Unix seconds after which the link is refused.
    pub expires: i64,
    /// Random, unique to this token; what a spent link is remembered by.
    pub nonce: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this is not a whole link (it may have been cut short when copied)")]
    Malformed,
    #[error("this link was not made by this server")]
    Forged,
    #[error("this link expired on {0} UTC")]
    Expired(String),
}

#[derive(Serialize, Deserialize)]
struct Payload {
    b: String,
    m: String,
    t: String,
    /// `up` or `down`.
    v: String,
    e: i64,
    n: String,
}

/// A fresh nonce: 16 random bytes, base64url.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The token for `claim`.
pub fn mint(key: &LinkKey, claim: &Claim) -> String {
    let payload = Payload {
        b: claim.batch.clone(),
        m: claim.metric.clone(),
        t: format_db(claim.at),
        v: match claim.verdict {
            Feedback::Up => "up",
            Feedback::Down => "down",
        }
        .to_owned(),
        e: claim.expires,
        n: claim.nonce.clone(),
    };
    seal(key, PURPOSE, &payload)
}

/// `payload` as a token for `purpose`: its JSON, base64url, a dot, and the mac of that.
pub(crate) fn seal(key: &LinkKey, purpose: &[u8], payload: &impl Serialize) -> String {
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(payload).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let mac = URL_SAFE_NO_PAD.encode(key.mac(purpose, &payload).finalize().into_bytes());
    format!("{payload}.{mac}")
}

/// The payload of a token [`seal`]ed for `purpose` with `key`; the mac is checked before
/// anything in the payload is read.
pub(crate) fn unseal<T: serde::de::DeserializeOwned>(
    key: &LinkKey,
    purpose: &[u8],
    token: &str,
) -> Result<T, LinkError> {
    if token.len() > MAX_TOKEN {
        return Err(LinkError::Malformed);
    }
    let (payload, mac) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| LinkError::Malformed)?;
    key.mac(purpose, payload)
        .verify_slice(&mac)
        .map_err(|_| LinkError::Forged)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| LinkError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)
}

/// Refuses an expiry (unix seconds) that has passed at `now`.
pub(crate) fn unexpired(expires: i64, now: i64) -> Result<(), LinkError> {
    if now > expires {
        let when = chrono::DateTime::from_timestamp(expires, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        return Err(LinkError::Expired(when));
    }
    Ok(())
}

/// What the confirmation form of `token` carries: proof that whoever posts it was shown the
/// page (a mac of the token for another purpose), so no cookie is needed; a visitor coming
/// from a mail client has none for this site yet, and setting one would replace the one
/// their open dashboard tabs use.
pub fn confirmation(key: &LinkKey, token: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.mac(CONFIRM_PURPOSE, token).finalize().into_bytes())
}

/// Whether `given` is [`confirmation`] of `token` (compared in constant time).
pub fn confirms(key: &LinkKey, token: &str, given: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(given)
        .is_ok_and(|mac| key.mac(CONFIRM_PURPOSE, token).verify_slice(&mac).is_ok())
}

/// The claim of a token made with `key`, if it is whole, genuine and not expired at `now`
/// (unix seconds). The mac is checked before anything in the payload is read.
pub fn verify(key: &LinkKey, token: &str, now: i64) -> Result<Claim, LinkError> {
    let p: Payload = unseal(key, PURPOSE, token)?;
    let verdict = match p.v.as_str() {
        "up" => Feedback::Up,
        "down" => Feedback::Down,
        _ => return Err(LinkError::Malformed),
    };
    let at = parse_lenient(&p.t).ok_or(LinkError::Malformed)?;
    unexpired(p.e, now)?;
    Ok(Claim {
        batch: p.b,
        metric: p.m,
        at,
        verdict,
        expires: p.e,
        nonce: p.n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> Claim {
        Claim {
            batch: "shop".into(),
            metric: "orders.eu/€".into(),
            at: parse_lenient("2026-12-01 10:05:00").unwrap(),
            verdict: Feedback::Down,
            expires: 1_000,
            nonce: "n1".into(),
        }
    }

    #[test]
    fn a_token_gives_back_its_claim_until_it_expires() {
        let key = LinkKey::new(vec![7; 32]);
        let token = mint(&key, &claim());
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "a token fits in a URL path as it is: {token}"
        );
        assert_eq!(verify(&key, &token, 999), Ok(claim()));
        assert_eq!(verify(&key, &token, 1_000), Ok(claim()));
        assert_eq!(
            verify(&key, &token, 1_001),
            Err(LinkError::Expired("1970-01-01 00:16".into()))
        );
    }

    #[test]
    fn another_key_a_changed_claim_or_a_cut_token_is_refused() {
        let key = LinkKey::new(vec![7; 32]);
        let token = mint(&key, &claim());
        assert_eq!(
            verify(&LinkKey::new(vec![8; 32]), &token, 0),
            Err(LinkError::Forged)
        );
        // The same signature on a payload that says "up" instead of "down".
        let (_, mac) = token.split_once('.').unwrap();
        let up = mint(
            &LinkKey::new(vec![9; 32]),
            &Claim {
                verdict: Feedback::Up,
                ..claim()
            },
        );
        let (payload_up, _) = up.split_once('.').unwrap();
        assert_eq!(
            verify(&key, &format!("{payload_up}.{mac}"), 0),
            Err(LinkError::Forged)
        );
        // A later expiry, signed by nobody.
        let (payload, _) = token.split_once('.').unwrap();
        let longer = mint(
            &key,
            &Claim {
                expires: 9_999_999_999,
                ..claim()
            },
        );
        let (longer_payload, _) = longer.split_once('.').unwrap();
        assert_ne!(payload, longer_payload);
        assert_eq!(
            verify(&key, &format!("{longer_payload}.{mac}"), 0),
            Err(LinkError::Forged)
        );
        assert_eq!(
            verify(&key, &token[..token.len() - 3], 0),
            Err(LinkError::Forged)
        );
        assert_eq!(verify(&key, "nodot", 0), Err(LinkError::Malformed));
        assert_eq!(verify(&key, "a.!!", 0), Err(LinkError::Malformed));
        assert_eq!(
            verify(&key, &"a".repeat(MAX_TOKEN + 1), 0),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn a_confirmation_belongs_to_its_token_and_key() {
        let key = LinkKey::new(vec![7; 32]);
        let token = mint(&key, &claim());
        let other = mint(
            &key,
            &Claim {
                nonce: "n2".into(),
                ..claim()
            },
        );
        let c = confirmation(&key, &token);
        assert!(confirms(&key, &token, &c));
        assert!(!confirms(&key, &other, &c));
        assert!(!confirms(&LinkKey::new(vec![8; 32]), &token, &c));
        assert!(!confirms(&key, &token, ""));
        assert!(!confirms(&key, &token, "!!"));
        // Not the link's own mac either.
        let (_, mac) = token.split_once('.').unwrap();
        assert!(!confirms(&key, &token, mac));
    }

    #[test]
    fn a_mac_made_for_another_purpose_does_not_pass() {
        let key = LinkKey::new(vec![7; 32]);
        let token = mint(&key, &claim());
        let (payload, _) = token.split_once('.').unwrap();
        let mut bare = <Hmac<Sha256> as Mac>::new_from_slice(&[7; 32]).unwrap();
        bare.update(payload.as_bytes());
        let bare = URL_SAFE_NO_PAD.encode(bare.finalize().into_bytes());
        assert_eq!(
            verify(&key, &format!("{payload}.{bare}"), 0),
            Err(LinkError::Forged)
        );
    }
}
