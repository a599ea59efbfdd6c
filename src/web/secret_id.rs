//! Random secrets handed to clients (session ids, API tokens) and the digests the database
//! keeps instead of them. 256-bit random values need no slow hash: a BLAKE2b digest is enough
//! to make a stolen database useless for logging in.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use password_hash::rand_core::{OsRng, RngCore};

/// 32 random bytes as 64 lowercase hex characters.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// What the database stores for a secret.
pub fn digest(secret: &str) -> String {
    hex(&Blake2b::<U32>::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `s` looks like [`random_hex`] output (before any database lookup).
pub fn is_random_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_digests_are_stable_and_different() {
        let (a, b) = (random_hex(), random_hex());
        assert!(is_random_hex(&a) && is_random_hex(&b));
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), a);
        assert_ne!(digest(&a), digest(&b));
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
        assert!(!constant_time_eq("ab", "abc"));
        assert!(!is_random_hex("zz"));
    }
}
