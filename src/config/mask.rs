//! Hiding secrets when configuration is shown (the admin's config page): values of keys that
//! name a secret are replaced, and passwords inside URLs (`postgres://user:pw@host`) are cut.

use serde_json::Value;

pub const MASK: &str = "********";

/// Whether a key's value is a secret, by its name.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "credential",
        "auth",
        "dsn",
    ]
    .iter()
    .any(|s| k.contains(s))
        || k.ends_with("_key") && k != "table_key"
}

/// Masks secrets in a value tree, in place.
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() && *v != Value::String(String::new()) {
                    *v = Value::String(MASK.to_owned());
                } else {
                    mask_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        Value::String(s) => {
            if let Some(masked) = mask_url_password(s) {
                *s = masked;
            }
        }
        _ => {}
    }
}

/// The text with the password of any `scheme://user:password@host` replaced, if it has one.
pub fn mask_url_password(text: &str) -> Option<String> {
    let start = text.find("://")? + 3;
    let rest = &text[start..];
    let at = rest.find('@')?;
    let userinfo = &rest[..at];
    if userinfo.contains('/') {
        return None;
    }
    let colon = userinfo.find(':')?;
    Some(format!(
        "{}{}:{MASK}{}",
        &text[..start],
        &userinfo[..colon],
        &rest[at..]
    ))
}

/// An environment variable's value as it may be shown.
pub fn shown_env_value(name: &str, value: &str) -> String {
    if is_secret_key(name) && !value.is_empty() {
        MASK.to_owned()
    } else {
        mask_url_password(value).unwrap_or_else(|| value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_and_url_passwords_are_masked_and_the_rest_kept() {
        let mut v = json!({
            "metric_batch": "sales",
            "table_key": "metrics",
            "slack_token": "xoxb-1",
            "nested": {"db_password": "pw", "list": ["postgres://u:pw@h/db", "plain"]},
            "alert_snooze": 3,
            "empty_token": ""
        });
        mask_secrets(&mut v);
        assert_eq!(v["metric_batch"], "sales");
        assert_eq!(v["table_key"], "metrics");
        assert_eq!(v["slack_token"], MASK);
        assert_eq!(v["nested"]["db_password"], MASK);
        assert_eq!(v["nested"]["list"][0], format!("postgres://u:{MASK}@h/db"));
        assert_eq!(v["nested"]["list"][1], "plain");
        assert_eq!(v["alert_snooze"], 3);
        assert_eq!(v["empty_token"], "");
        assert!(!v.to_string().contains("pw@") && !v.to_string().contains("xoxb"));
        assert_eq!(
            shown_env_value("ANOMSTACK_ADMIN_PASSWORD_HASH", "$argon2id$x"),
            MASK
        );
        assert_eq!(
            shown_env_value("ANOMSTACK_AWS_SECRET_ACCESS_KEY", "k"),
            MASK
        );
        assert_eq!(shown_env_value("ANOMSTACK_PORT", "8080"), "8080");
        assert_eq!(mask_url_password("https://example.com/a@b"), None);
    }
}
