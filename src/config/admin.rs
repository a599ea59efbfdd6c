//! Admin credentials and session lifetimes from the environment. The password is kept only as
//! an argon2id hash: `ANOMSTACK_ADMIN_PASSWORD_HASH` as given, or `ANOMSTACK_ADMIN_PASSWORD`
//! hashed here at startup (the clear text is dropped, never logged or stored).

use std::time::Duration;

use super::env::EnvVars;
use super::error::{ConfigError, Origin};
use super::secret::Secret;
use crate::password::{hash_password, is_phc_hash};

/// Who may log in to the admin panel.
#[derive(Debug, Clone)]
pub struct AdminCredentials {
    pub username: String,
    /// An argon2id PHC string.
    pub password_hash: Secret,
}

/// How admin sessions behave.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// `None`: the admin panel is off (no credentials configured).
    pub credentials: Option<AdminCredentials>,
    /// `ANOMSTACK_COOKIE_SECURE`: force the cookie's `Secure` flag on or off; by default it is
    /// set when the request came over HTTPS (`X-Forwarded-Proto: https`, as Fly's proxy says).
    pub cookie_secure: Option<bool>,
    /// `ANOMSTACK_SESSION_IDLE_MINUTES` (default 120): a session unused this long ends.
    pub session_idle: Duration,
    /// `ANOMSTACK_SESSION_MAX_HOURS` (default 24): a session ends this long after login.
    pub session_max: Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            credentials: None,
            cookie_secure: None,
            session_idle: Duration::from_secs(120 * 60),
            session_max: Duration::from_secs(24 * 3600),
        }
    }
}

pub(super) const DEFAULT_USERNAME: &str = "admin";

/// The admin credentials the environment gives, if any.
pub(super) fn credentials(env: &EnvVars) -> Result<Option<AdminCredentials>, ConfigError> {
    let var_error = |name: &str, reason: &str| {
        ConfigError::new(Origin::EnvVar(name.to_owned()), None, reason.to_owned())
    };
    let username = env
        .get("ANOMSTACK_ADMIN_USERNAME")
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let hash = env
        .get("ANOMSTACK_ADMIN_PASSWORD_HASH")
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let clear = env
        .get("ANOMSTACK_ADMIN_PASSWORD")
        .filter(|p| !p.is_empty());
    let password_hash = match (hash, clear) {
        (Some(hash), _) => {
            if !is_phc_hash(hash) {
                return Err(var_error(
                    "ANOMSTACK_ADMIN_PASSWORD_HASH",
                    "not an argon2 PHC string (expected `$argon2id$v=19$...`; `anomstack hash-password` makes one)",
                ));
            }
            hash.to_owned()
        }
        (None, Some(clear)) => hash_password(clear)
            .map_err(|e| var_error("ANOMSTACK_ADMIN_PASSWORD", &e.to_string()))?,
        (None, None) => {
            if username.is_some() {
                return Err(var_error(
                    "ANOMSTACK_ADMIN_USERNAME",
                    "is set but there is no password: set ANOMSTACK_ADMIN_PASSWORD_HASH (from `anomstack hash-password`) or ANOMSTACK_ADMIN_PASSWORD",
                ));
            }
            return Ok(None);
        }
    };
    Ok(Some(AdminCredentials {
        username: username.unwrap_or(DEFAULT_USERNAME).to_owned(),
        password_hash: Secret::new(password_hash),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::verify_password;

    fn creds(pairs: &[(&str, &str)]) -> Result<Option<AdminCredentials>, ConfigError> {
        credentials(&EnvVars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn no_credentials_means_no_admin_panel() {
        assert!(creds(&[]).unwrap().is_none());
    }

    #[test]
    fn a_clear_password_is_hashed_and_not_kept() {
        let c = creds(&[
            ("ANOMSTACK_ADMIN_USERNAME", "ops"),
            ("ANOMSTACK_ADMIN_PASSWORD", "s3cret pass"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.username, "ops");
        assert!(c.password_hash.expose().starts_with("$argon2id$"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(verify_password("s3cret pass", c.password_hash.expose()).unwrap());
    }

    #[test]
    fn a_hash_wins_and_a_bad_hash_or_a_lone_username_names_the_variable() {
        let hash = hash_password("pw").unwrap();
        let c = creds(&[
            ("ANOMSTACK_ADMIN_PASSWORD_HASH", hash.as_str()),
            ("ANOMSTACK_ADMIN_PASSWORD", "other"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.username, DEFAULT_USERNAME);
        assert_eq!(c.password_hash.expose(), hash);
        let bad = creds(&[("ANOMSTACK_ADMIN_PASSWORD_HASH", "plaintext")]).unwrap_err();
        assert!(
            bad.to_string().contains("ANOMSTACK_ADMIN_PASSWORD_HASH"),
            "{bad}"
        );
        assert!(!bad.to_string().contains("plaintext"), "{bad}");
        let lone = creds(&[("ANOMSTACK_ADMIN_USERNAME", "ops")]).unwrap_err();
        assert!(lone.to_string().contains("no password"), "{lone}");
    }
}
