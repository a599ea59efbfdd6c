//! The generic webhook: a JSON POST (documented default payload, or a minijinja template for
//! Teams, Discord, PagerDuty Events v2, ntfy, ...), extra headers, an HMAC-SHA256 signature when
//! a secret is set, and retries with backoff on network errors, 429 and 5xx.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::NotifyError;
use super::message::Message;
use crate::config::WebhookSettings;

/// Points of the recent window sent in the default payload.
const PAYLOAD_POINTS: usize = 50;

/// The default payload, also the context of a template.
pub fn payload(msg: &Message) -> Value {
    let points: Vec<Value> = msg.points[msg.points.len().saturating_sub(PAYLOAD_POINTS)..]
        .iter()
        .map(|p| {
            json!({
                "timestamp": p.timestamp.and_utc().to_rfc3339(),
                "value": p.value, "score": p.score, "alert": p.alert,
            })
        })
        .collect();
    json!({
        "source": "anomstack",
        "kind": msg.kind,
        "batch": msg.batch,
        "metric": msg.metric,
        "title": msg.title,
        "description": msg.description,
        "text": msg.text(),
        "tags": msg.tags,
        "threshold": msg.threshold,
        "points": points,
        "table": msg.table.as_ref().map(|t| json!({"columns": t.columns, "rows": t.rows})),
        "feedback": msg.feedback.as_ref().map(|f| json!({"useful": f.useful, "not_useful": f.not_useful})),
        "incident_id": msg.incident.as_ref().map(|i| i.id),
        "incident": msg.incident.as_ref().map(|i| json!({
            "id": i.id,
            "event": if msg.kind == "incident_resolved" { "resolved" } else if i.opens { "opened" } else { "updated" },
            "metrics": i.metrics,
            "with": i.with,
            "url": i.page,
            "acknowledge": i.acknowledge,
            "resolve": i.resolve,
        })),
    })
}

/// The request body: the template rendered with the payload as context, or the payload.
pub fn body(settings: &WebhookSettings, msg: &Message) -> Result<String, NotifyError> {
    let context = payload(msg);
    let Some(path) = &settings.template else {
        return Ok(context.to_string());
    };
    let source = std::fs::read_to_string(path)
        .map_err(|e| NotifyError::Webhook(format!("template {}: {e}", path.display())))?;
    let env = minijinja::Environment::new();
    env.render_str(&source, &context)
        .map_err(|e| NotifyError::Webhook(format!("template {}: {e}", path.display())))
}

/// `sha256=<hex>` of `timestamp.body` under `secret` (the receiver recomputes it).
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail; an empty signature if it ever did.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Posts `msg` to `url`, retrying transient failures.
pub async fn send(
    http: &reqwest::Client,
    settings: &WebhookSettings,
    url: &str,
    msg: &Message,
) -> Result<(), NotifyError> {
    let body = body(settings, msg)?;
    let mut last = String::new();
    for attempt in 0..settings.tries.max(1) {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << (attempt - 1).min(5))).await;
        }
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut req = http
            .post(url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("anomstack/", env!("CARGO_PKG_VERSION")),
            )
            .body(body.clone());
        for (k, v) in &settings.headers {
            req = req.header(k.as_str(), v.expose());
        }
        if let Some(secret) = &settings.secret {
            req = req.header("x-anomstack-timestamp", &timestamp).header(
                "x-anomstack-signature",
                signature(secret.expose(), &timestamp, &body),
            );
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                last = format!("HTTP {status}");
                if !(status.is_server_error() || status.as_u16() == 429) {
                    break;
                }
            }
            Err(e) => last = without_url(&e),
        }
    }
    Err(NotifyError::Webhook(format!(
        "{last} after {} tries",
        settings.tries.max(1)
    )))
}

pub use crate::http::without_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature("s3cret", "1700000000", "{\"a\":1}"),
            "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
    }
}
