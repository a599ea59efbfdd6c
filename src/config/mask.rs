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
        "pwd",
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
            if let Some(masked) = mask_inline_secrets(s) {
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

/// Secrets written inline in SQL or commands: libpq keyword DSNs (`password=…`, `pwd=…`, as
/// in DuckDB's `ATTACH 'host=… password=…'`) and `Bearer …` headers. The value runs to
/// whitespace, a quote, `;` or `&`.
pub fn mask_inline_secrets(text: &str) -> Option<String> {
    const MARKERS: [&str; 4] = ["password=", "passwd=", "pwd=", "bearer "];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut changed = false;
    while let Some((start, marker)) = MARKERS
        .iter()
        .filter_map(|m| lower[at..].find(m).map(|i| (at + i, *m)))
        .min_by_key(|(i, _)| *i)
    {
        // ASCII markers in an ASCII-lowered copy: byte offsets match the original's.
        let value_start = start + marker.len();
        let value_len = text[value_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '&'))
            .unwrap_or(text.len() - value_start);
        out.push_str(&text[at..value_start]);
        if value_len > 0 && &text[value_start..value_start + value_len] != MASK {
            out.push_str(MASK);
            changed = true;
        } else {
            out.push_str(&text[value_start..value_start + value_len]);
        }
        at = value_start + value_len;
    }
    out.push_str(&text[at..]);
    changed.then_some(out)
}

/// An environment variable's value as it may be shown. A JSON value (a whole-map override
/// such as `ANOMSTACK__<BATCH>__VARS`) is masked key by key.
pub fn shown_env_value(name: &str, value: &str) -> String {
    if is_secret_key(name) && !value.is_empty() {
        return MASK.to_owned();
    }
    if let Ok(mut json @ (Value::Object(_) | Value::Array(_))) =
        serde_json::from_str::<Value>(value)
    {
        mask_secrets(&mut json);
        return json.to_string();
    }
    let value = mask_url_password(value).unwrap_or_else(|| value.to_owned());
    mask_inline_secrets(&value).unwrap_or(value)
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

    #[test]
    fn inline_dsn_passwords_bearer_tokens_and_json_overrides_are_masked() {
        assert_eq!(
            mask_inline_secrets("ATTACH 'host=db user=u PASSWORD=s3cr3t dbname=x' AS pg")
                .as_deref(),
            Some("ATTACH 'host=db user=u PASSWORD=******** dbname=x' AS pg")
        );
        assert_eq!(
            mask_inline_secrets("curl -H 'Authorization: Bearer abc.def' https://x; pwd=ü1;")
                .as_deref(),
            Some("curl -H 'Authorization: Bearer ********' https://x; pwd=********;")
        );
        assert_eq!(
            mask_inline_secrets("SELECT 1 -- no secrets, password= empty"),
            None
        );
        assert_eq!(
            mask_inline_secrets("Bearer ********"),
            None,
            "already masked"
        );
        let mut v =
            json!({"ingest_sql": "ATTACH 'password=hunter2' AS pg", "vars": {"db_pwd": "x"}});
        mask_secrets(&mut v);
        assert!(!v.to_string().contains("hunter2"), "{v}");
        assert_eq!(v["vars"]["db_pwd"], MASK);
        let shown = shown_env_value(
            "ANOMSTACK__SALES__VARS",
            r#"{"region": "eu", "db_password": "pw1"}"#,
        );
        assert!(shown.contains("eu") && !shown.contains("pw1"), "{shown}");
        assert_eq!(shown_env_value("ANOMSTACK__SALES__VARS", "[1, 2]"), "[1,2]");
    }
}
