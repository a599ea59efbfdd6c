//! Admin passwords: argon2id PHC strings. `anomstack hash-password` makes one for
//! `ANOMSTACK_ADMIN_PASSWORD_HASH`, so the clear text never has to be stored anywhere.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("not an argon2 PHC string (expected `$argon2id$v=19$...`): {0}")]
    BadHash(String),
}

/// A fresh argon2id hash with a random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `phc` is an argon2 PHC string this module can verify against.
pub fn is_phc_hash(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}

/// Checks a password against a PHC string. Slow on purpose: call it off the async executor.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|e| PasswordError::BadHash(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("correct horse", &a).unwrap());
        assert!(!verify_password("wrong", &a).unwrap());
        assert!(verify_password("x", "not a hash").is_err());
        assert!(hash_password("").is_err());
    }
}
