//! Where alert messages go, from the environment: SMTP for email, a Slack bot token or incoming
//! webhook, and a generic webhook. A channel is configured when its required variables are set;
//! a half-configured channel is an error naming the missing variable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::env::EnvVars;
use super::error::{ConfigError, Origin};
use super::secret::Secret;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587; the default).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or network.
    None,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub from: String,
    pub to: Vec<String>,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
    pub tls: SmtpTls,
}

#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// `ANOMSTACK_SLACK_BOT_TOKEN` (files and messages through the Web API).
    pub bot_token: Option<Secret>,
    /// `ANOMSTACK_SLACK_CHANNEL`: a name (`#alerts` or `alerts`) or an id (`C0123`).
    pub channel: Option<String>,
    /// `ANOMSTACK_SLACK_WEBHOOK_URL`: an incoming webhook (text only), used without a token.
    pub webhook_url: Option<Secret>,
    /// `ANOMSTACK_SLACK_API_URL`: the Web API's base (Slack's own unless set).
    pub api_url: String,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: Option<Secret>,
    /// Sent with every request (`ANOMSTACK_WEBHOOK_HEADERS`, a JSON object).
    pub headers: BTreeMap<String, Secret>,
    /// Signs the body with HMAC-SHA256 when set (`X-Anomstack-Signature`).
    pub secret: Option<Secret>,
    /// A minijinja template for the body (`ANOMSTACK_WEBHOOK_TEMPLATE`, a file); JSON default.
    pub template: Option<PathBuf>,
    /// Tries per message (`ANOMSTACK_WEBHOOK_TRIES`, default 3).
    pub tries: u32,
}

/// The "useful / not useful" links in alert messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    /// Where people reach this app (`ANOMSTACK_PUBLIC_URL`; on Fly.io
    /// `https://$FLY_APP_NAME.fly.dev` unless set), without a trailing slash.
    pub public_url: String,
    /// How long a link works (`ANOMSTACK_FEEDBACK_LINK_DAYS`, default 7).
    pub valid_days: u32,
}

/// Longest a feedback link may be valid: a leaked message stops being a lever soon enough.
const MAX_LINK_DAYS: u32 = 90;

#[derive(Debug, Clone, Default)]
pub struct ChannelSettings {
    pub email: Option<EmailSettings>,
    pub slack: Option<SlackSettings>,
    pub webhook: Option<WebhookSettings>,
    /// Where job failures are mailed (`ANOMSTACK_FAILURE_EMAIL_*`, falling back to the alert
    /// email's server and sender).
    pub failure_email: Option<EmailSettings>,
    /// Feedback links in alerts; none without a public URL to point them at.
    pub links: Option<LinkSettings>,
}

fn var_error(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(Origin::EnvVar(name.to_owned()), None, reason.into())
}

fn get<'a>(env: &'a EnvVars, name: &str) -> Option<&'a str> {
    env.get(name).map(str::trim).filter(|v| !v.is_empty())
}

fn list(text: &str) -> Vec<String> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads every channel; all problems at once.
pub(super) fn channels(env: &EnvVars) -> Result<ChannelSettings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let alert_email = email(env, "ANOMSTACK_ALERT_EMAIL", None, &mut errors);
    let failure_email = email(
        env,
        "ANOMSTACK_FAILURE_EMAIL",
        alert_email.as_ref(),
        &mut errors,
    );
    let slack = slack(env, &mut errors);
    let webhook = webhook(env, &mut errors);
    let links = links(env, &mut errors);
    if errors.is_empty() {
        Ok(ChannelSettings {
            email: alert_email,
            slack,
            webhook,
            failure_email,
            links,
        })
    } else {
        Err(errors)
    }
}

fn links(env: &EnvVars, errors: &mut Vec<ConfigError>) -> Option<LinkSettings> {
    const DAYS: &str = "ANOMSTACK_FEEDBACK_LINK_DAYS";
    let valid_days = match get(env, DAYS) {
        None => 7,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_LINK_DAYS).contains(&n) => n,
            _ => {
                errors.push(var_error(
                    DAYS,
                    format!(
                        "expected a whole number of days from 1 to {MAX_LINK_DAYS}, got {raw:?}"
                    ),
                ));
                7
            }
        },
    };
    let public_url = match get(env, "ANOMSTACK_PUBLIC_URL") {
        Some(url) => {
            let url = url.trim_end_matches('/');
            let parsed = reqwest::Url::parse(url).ok();
            if !parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
            }) {
                errors.push(var_error(
                    "ANOMSTACK_PUBLIC_URL",
                    // Not echoed: a mistaken value may hold credentials.
                    "expected the app's address as people open it, like https://anomstack.example.com (http or https, no credentials, query or fragment)",
                ));
                return None;
            }
            parsed
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_default()
        }
        None => {
            let app = get(env, "FLY_APP_NAME")?;
            format!("https://{app}.fly.dev")
        }
    };
    Some(LinkSettings {
        public_url,
        valid_days,
    })
}

fn email(
    env: &EnvVars,
    prefix: &str,
    fallback: Option<&EmailSettings>,
    errors: &mut Vec<ConfigError>,
) -> Option<EmailSettings> {
    let var = |k: &str| format!("{prefix}_{k}");
    let to = get(env, &var("TO")).map(list);
    let from = get(env, &var("FROM")).map(str::to_owned);
    let host = get(env, &var("SMTP_HOST")).map(str::to_owned);
    // Only the recipients make a channel: the rest may come from the fallback.
    let Some(to) = to else {
        if fallback.is_none() && (from.is_some() || host.is_some()) {
            errors.push(var_error(
                &var("TO"),
                "is needed to send email (comma-separated addresses)",
            ));
        }
        return None;
    };
    let from = from.or_else(|| fallback.map(|f| f.from.clone()));
    let host = host.or_else(|| fallback.map(|f| f.host.clone()));
    let (Some(from), Some(host)) = (from, host) else {
        errors.push(var_error(
            &var("FROM"),
            format!("email needs {0} and {1}", var("FROM"), var("SMTP_HOST")),
        ));
        return None;
    };
    let tls = match get(env, &var("SMTP_TLS"))
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => fallback.map_or(SmtpTls::StartTls, |f| f.tls),
        Some("starttls") => SmtpTls::StartTls,
        Some("tls" | "ssl") => SmtpTls::Tls,
        Some("none" | "off") => SmtpTls::None,
        Some(other) => {
            errors.push(var_error(
                &var("SMTP_TLS"),
                format!("expected starttls, tls or none, got {other:?}"),
            ));
            SmtpTls::StartTls
        }
    };
    let port = match get(env, &var("SMTP_PORT")) {
        Some(p) => p.parse().unwrap_or_else(|_| {
            errors.push(var_error(
                &var("SMTP_PORT"),
                format!("expected a port number, got {p:?}"),
            ));
            587
        }),
        None => fallback.map_or(
            match tls {
                SmtpTls::Tls => 465,
                _ => 587,
            },
            |f| f.port,
        ),
    };
    let password = get(env, &var("PASSWORD"))
        .map(Secret::new)
        .or_else(|| fallback.map(|f| f.password.clone()))
        .unwrap_or_default();
    let username = get(env, &var("USERNAME"))
        .map(str::to_owned)
        .or_else(|| fallback.map(|f| f.username.clone()))
        .unwrap_or_else(|| from.clone());
    Some(EmailSettings {
        from,
        to,
        host,
        port,
        username,
        password,
        tls,
    })
}

fn slack(env: &EnvVars, errors: &mut Vec<ConfigError>) -> Option<SlackSettings> {
    let bot_token = get(env, "ANOMSTACK_SLACK_BOT_TOKEN").map(Secret::new);
    let channel = get(env, "ANOMSTACK_SLACK_CHANNEL").map(str::to_owned);
    let webhook_url = get(env, "ANOMSTACK_SLACK_WEBHOOK_URL").map(Secret::new);
    if bot_token.is_none() && webhook_url.is_none() {
        return None;
    }
    if bot_token.is_some() && channel.is_none() && webhook_url.is_none() {
        errors.push(var_error(
            "ANOMSTACK_SLACK_CHANNEL",
            "is needed with ANOMSTACK_SLACK_BOT_TOKEN (a channel name such as #alerts, or an id)",
        ));
    }
    Some(SlackSettings {
        bot_token,
        channel,
        webhook_url,
        api_url: get(env, "ANOMSTACK_SLACK_API_URL")
            .unwrap_or("https://slack.com/api")
            .trim_end_matches('/')
            .to_owned(),
    })
}

fn webhook(env: &EnvVars, errors: &mut Vec<ConfigError>) -> Option<WebhookSettings> {
    let url = get(env, "ANOMSTACK_WEBHOOK_URL").map(Secret::new);
    let template = get(env, "ANOMSTACK_WEBHOOK_TEMPLATE").map(PathBuf::from);
    if url.is_none() && template.is_none() {
        return None;
    }
    let headers = match get(env, "ANOMSTACK_WEBHOOK_HEADERS") {
        None => BTreeMap::new(),
        Some(raw) => match serde_json::from_str::<BTreeMap<String, String>>(raw) {
            Ok(h) => h.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
            Err(e) => {
                errors.push(var_error(
                    "ANOMSTACK_WEBHOOK_HEADERS",
                    format!("expected a JSON object of header names to values: {e}"),
                ));
                BTreeMap::new()
            }
        },
    };
    if let Some(t) = &template
        && !t.is_file()
    {
        errors.push(var_error(
            "ANOMSTACK_WEBHOOK_TEMPLATE",
            format!("no template file at {}", t.display()),
        ));
    }
    let tries = match get(env, "ANOMSTACK_WEBHOOK_TRIES") {
        None => 3,
        Some(raw) => raw
            .parse::<u32>()
            .map(|n| n.clamp(1, 10))
            .unwrap_or_else(|_| {
                errors.push(var_error(
                    "ANOMSTACK_WEBHOOK_TRIES",
                    format!("expected a whole number, got {raw:?}"),
                ));
                3
            }),
    };
    Some(WebhookSettings {
        url,
        headers,
        secret: get(env, "ANOMSTACK_WEBHOOK_SECRET").map(Secret::new),
        template,
        tries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ChannelSettings, Vec<ConfigError>> {
        channels(&EnvVars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn nothing_set_means_no_channels() {
        let c = read(&[]).unwrap();
        assert!(
            c.email.is_none()
                && c.slack.is_none()
                && c.webhook.is_none()
                && c.failure_email.is_none()
                && c.links.is_none()
        );
    }

    #[test]
    fn feedback_links_point_at_the_public_url_or_the_fly_app() {
        let links = |pairs: &[(&str, &str)]| read(pairs).map(|c| c.links);
        assert_eq!(
            links(&[("ANOMSTACK_PUBLIC_URL", "https://a.example.com/")]).unwrap(),
            Some(LinkSettings {
                public_url: "https://a.example.com".into(),
                valid_days: 7
            })
        );
        assert_eq!(
            links(&[
                ("FLY_APP_NAME", "shop-anomalies"),
                ("ANOMSTACK_FEEDBACK_LINK_DAYS", "3")
            ])
            .unwrap(),
            Some(LinkSettings {
                public_url: "https://shop-anomalies.fly.dev".into(),
                valid_days: 3
            })
        );
        for (key, bad) in [
            ("ANOMSTACK_PUBLIC_URL", "anomstack.example.com"),
            ("ANOMSTACK_PUBLIC_URL", "https://u:p@a.example.com"),
            ("ANOMSTACK_PUBLIC_URL", "https://a.example.com/#top"),
            ("ANOMSTACK_FEEDBACK_LINK_DAYS", "0"),
            ("ANOMSTACK_FEEDBACK_LINK_DAYS", "365"),
        ] {
            let errors = links(&[
                ("ANOMSTACK_PUBLIC_URL", "https://ok.example.com"),
                (key, bad),
            ])
            .unwrap_err();
            assert!(
                errors[0].to_string().contains(key),
                "{key}={bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn email_reads_every_recipient_and_the_failure_email_falls_back() {
        let c = read(&[
            ("ANOMSTACK_ALERT_EMAIL_FROM", "bot@example.com"),
            ("ANOMSTACK_ALERT_EMAIL_TO", "a@example.com, b@example.com"),
            ("ANOMSTACK_ALERT_EMAIL_SMTP_HOST", "smtp.example.com"),
            ("ANOMSTACK_ALERT_EMAIL_PASSWORD", "pw"),
            ("ANOMSTACK_FAILURE_EMAIL_TO", "ops@example.com"),
        ])
        .unwrap();
        let e = c.email.unwrap();
        assert_eq!(e.to, ["a@example.com", "b@example.com"]);
        assert_eq!(
            (e.port, e.tls, e.username.as_str()),
            (587, SmtpTls::StartTls, "bot@example.com")
        );
        let f = c.failure_email.unwrap();
        assert_eq!(
            (f.to[0].as_str(), f.host.as_str(), f.password.expose()),
            ("ops@example.com", "smtp.example.com", "pw")
        );
    }

    #[test]
    fn half_configured_channels_name_the_missing_variable() {
        let errs = read(&[
            ("ANOMSTACK_ALERT_EMAIL_FROM", "bot@example.com"),
            ("ANOMSTACK_SLACK_BOT_TOKEN", "xoxb-1"),
            ("ANOMSTACK_WEBHOOK_URL", "http://x"),
            ("ANOMSTACK_WEBHOOK_HEADERS", "not json"),
            ("ANOMSTACK_ALERT_EMAIL_SMTP_TLS", "maybe"),
        ])
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        for name in [
            "ANOMSTACK_ALERT_EMAIL_TO",
            "ANOMSTACK_SLACK_CHANNEL",
            "ANOMSTACK_WEBHOOK_HEADERS",
        ] {
            assert!(all.contains(name), "{all}");
        }
        assert!(!all.contains("xoxb"), "no secret in errors: {all}");
    }
}
