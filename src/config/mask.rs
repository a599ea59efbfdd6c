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
        // Webhook URLs (Slack, Discord, Teams) carry their token in the path; headers, keys.
        "webhook",
        "headers",
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

/// The text with every URL's password (`scheme://user:password@host`) and secret-named query
/// parameters (`?authToken=…`) replaced, if there were any.
pub fn mask_url_password(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        // The URL runs to whitespace or a quote.
        let url_len = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(url_len);
        let masked = mask_one_url(url);
        changed |= masked != url;
        out.push_str(&masked);
        rest = tail;
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// `url` without its scheme. The password runs to the last `@` before the query, so a
/// password holding `@` or `/` is hidden whole; a rare `host:port/path@x` is over-masked,
/// which only costs readability.
fn mask_one_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let (head, tail) = url.split_at(end);
    let head = match head.rfind('@') {
        Some(at) => {
            let (userinfo, host) = head.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) if !user.contains('/') => format!("{user}:{MASK}{host}"),
                _ => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    let tail = match tail.strip_prefix('?') {
        Some(query) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, format!("#{f}")),
                None => (query, String::new()),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if is_secret_key(k) && !v.is_empty() => format!("{k}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("?{}{fragment}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{head}{tail}")
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
        assert_eq!(
            shown_env_value(
                "ANOMSTACK_SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/x"
            ),
            MASK
        );
        assert_eq!(
            shown_env_value(
                "ANOMSTACK_WEBHOOK_HEADERS",
                "{\"Authorization\": \"Bearer k\"}"
            ),
            MASK
        );
        assert_eq!(mask_url_password("https://example.com/a@b"), None);
        assert_eq!(mask_url_password("no url here"), None);
        assert_eq!(
            mask_url_password("postgres://u:p@ss@host/db").as_deref(),
            Some("postgres://u:********@host/db"),
            "the last @ ends the password"
        );
        assert_eq!(
            mask_url_password("postgres://u:pa/ss@h").as_deref(),
            Some("postgres://u:********@h")
        );
        assert_eq!(
            mask_url_password("a http://x:1@h and ftp://y:2@k").as_deref(),
            Some("a http://x:********@h and ftp://y:********@k")
        );
        assert_eq!(
            mask_url_password("libsql://db.turso.io?authToken=abc&tls=1#f").as_deref(),
            Some("libsql://db.turso.io?authToken=********&tls=1#f")
        );
        assert_eq!(
            mask_url_password("ünï://ç:é@ö").as_deref(),
            Some("ünï://ç:********@ö")
        );
    }
}
