//! Slack: with a bot token, the chart is uploaded to the channel with the title and
//! description as its comment (`files.getUploadURLExternal`, upload, then
//! `files.completeUploadExternal`), or a `chat.postMessage` when there is no chart; channel
//! names are looked up with `conversations.list` (every page) and remembered. Without a token,
//! an incoming webhook gets the text.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::NotifyError;
use super::message::{Message, aligned};
use super::webhook::without_url;
use crate::config::SlackSettings;

/// Pages of `conversations.list` read at most (200 channels each).
const MAX_PAGES: usize = 50;

/// Channel ids by name, learned once per process.
#[derive(Default)]
pub struct ChannelIds(Mutex<HashMap<String, String>>);

fn slack_error(method: &str, detail: impl std::fmt::Display) -> NotifyError {
    NotifyError::Slack(format!("{method}: {detail}"))
}

/// The text Slack shows: the title in bold, the description, and a table as a code block
/// (Slack has no tables, but keeps a code block's columns aligned).
/// Slack's control characters are escaped, so `<!channel>` in a metric name or an LLM answer
/// pings no one.
pub fn text(msg: &Message) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut out = format!("*{}*", esc(&msg.title));
    if !msg.description.is_empty() {
        out.push('\n');
        out.push_str(&esc(&msg.description));
    }
    if let Some(table) = &msg.table {
        out.push_str(&format!("\n```\n{}\n```", esc(&aligned(table))));
    }
    if let Some(incident) = &msg.incident {
        out.push_str(&format!(
            "\n_Incident #{}: {}_",
            incident.id,
            esc(&incident.metrics.join(", "))
        ));
        let mut links = Vec::new();
        if let Some(page) = &incident.page {
            links.push(format!("<{page}|Follow it>"));
        }
        if let Some(link) = &incident.acknowledge {
            links.push(format!("<{link}|Acknowledge>"));
        }
        if let Some(link) = &incident.resolve {
            links.push(format!("<{link}|Resolve>"));
        }
        if !links.is_empty() {
            out.push_str(&format!("\n{}", links.join("  ·  ")));
        }
    }
    // Slack's link syntax; a token is base64url, which needs no escaping there.
    if let Some(links) = &msg.feedback {
        out.push_str(&format!(
            "\nWas this useful? <{}|👍 Useful>  ·  <{}|👎 Not useful>",
            links.useful, links.not_useful
        ));
    }
    out
}

/// Calls a Web API method with form parameters; its JSON answer when `ok`.
async fn call(
    http: &reqwest::Client,
    settings: &SlackSettings,
    token: &str,
    method: &str,
    form: &[(&str, String)],
) -> Result<Value, NotifyError> {
    let response = http
        .post(format!("{}/{method}", settings.api_url))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .map_err(|e| slack_error(method, without_url(&e)))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|_| slack_error(method, format!("HTTP {status}, not a Slack answer")))?;
    if body["ok"].as_bool() == Some(true) {
        Ok(body)
    } else {
        let error = body["error"].as_str().unwrap_or("unknown error");
        Err(slack_error(method, format!("HTTP {status}, {error}")))
    }
}

/// Whether `channel` is already an id (C…, G…, D… in capitals and digits).
fn is_channel_id(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G', 'D'])
        && channel
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

async fn channel_id(
    http: &reqwest::Client,
    settings: &SlackSettings,
    token: &str,
    ids: &ChannelIds,
    channel: &str,
) -> Result<String, NotifyError> {
    let name = channel.trim().trim_start_matches('#');
    if is_channel_id(name) {
        return Ok(name.to_owned());
    }
    if let Some(id) = ids.0.lock().ok().and_then(|m| m.get(name).cloned()) {
        return Ok(id);
    }
    let mut cursor = String::new();
    for _ in 0..MAX_PAGES {
        let mut form = vec![
            ("types", "public_channel,private_channel".to_owned()),
            ("exclude_archived", "true".to_owned()),
            ("limit", "200".to_owned()),
        ];
        if !cursor.is_empty() {
            form.push(("cursor", cursor.clone()));
        }
        let page = call(http, settings, token, "conversations.list", &form).await?;
        let found = page["channels"].as_array().and_then(|list| {
            list.iter()
                .find(|c| c["name"].as_str() == Some(name))
                .and_then(|c| c["id"].as_str())
                .map(str::to_owned)
        });
        if let Some(id) = found {
            if let Ok(mut m) = ids.0.lock() {
                m.insert(name.to_owned(), id.clone());
            }
            return Ok(id);
        }
        cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    Err(slack_error(
        "conversations.list",
        format!("no channel named #{name} that the bot can see (invite it, or use the channel id)"),
    ))
}

/// Sends `msg` to `channel` (the configured one unless a route chose another). An incident's
/// first message in a channel is posted as text, with its chart in the thread under it, and
/// that thread is returned (channel id, ts) for its later messages, which answer it there.
pub async fn send(
    http: &reqwest::Client,
    settings: &SlackSettings,
    ids: &ChannelIds,
    channel: Option<&str>,
    msg: &Message,
    chart: Option<&[u8]>,
) -> Result<Option<(String, String)>, NotifyError> {
    let channel = channel.or(settings.channel.as_deref());
    let (Some(token), Some(channel)) = (&settings.bot_token, channel) else {
        let Some(hook) = &settings.webhook_url else {
            return Err(NotifyError::Slack(
                "no bot token and channel, nor webhook URL".into(),
            ));
        };
        // Incoming webhooks cannot thread: each incident message goes as one of its own.
        let response = http
            .post(hook.expose())
            .json(&json!({ "text": text(msg) }))
            .send()
            .await
            .map_err(|e| slack_error("incoming webhook", without_url(&e)))?;
        return if response.status().is_success() {
            Ok(None)
        } else {
            Err(slack_error(
                "incoming webhook",
                format!("HTTP {}", response.status()),
            ))
        };
    };
    let token = token.expose();
    let id = channel_id(http, settings, token, ids, channel).await?;
    let thread = msg
        .incident
        .as_ref()
        .and_then(|i| i.slack_threads.get(&id).cloned());
    if msg.incident.is_some() && thread.is_none() {
        let Some(ts) = post_text(http, settings, token, &id, msg, None).await? else {
            return Err(slack_error("chat.postMessage", "no ts in the answer"));
        };
        if let Some(bytes) = chart
            && let Err(e) = upload(http, settings, token, &id, msg, bytes, Some(&ts), false).await
        {
            tracing::warn!(error = %e, "the incident's chart was not added to its Slack thread");
        }
        return Ok(Some((id, ts)));
    }
    let thread = thread.as_deref();
    let Some(bytes) = chart else {
        return post_text(http, settings, token, &id, msg, thread)
            .await
            .map(|_| None);
    };
    match upload(http, settings, token, &id, msg, bytes, thread, true).await {
        Ok(()) => Ok(None),
        // No files:write, say, or the upload host unreachable: the text still goes out.
        Err(upload_error) => post_text(http, settings, token, &id, msg, thread)
            .await
            .map(|_| None)
            .map_err(|_| upload_error),
    }
}

/// Posts the text (in `thread` when given); the message's ts.
async fn post_text(
    http: &reqwest::Client,
    settings: &SlackSettings,
    token: &str,
    channel: &str,
    msg: &Message,
    thread: Option<&str>,
) -> Result<Option<String>, NotifyError> {
    let mut form = vec![("channel", channel.to_owned()), ("text", text(msg))];
    if let Some(ts) = thread {
        form.push(("thread_ts", ts.to_owned()));
    }
    let answer = call(http, settings, token, "chat.postMessage", &form).await?;
    Ok(answer["ts"].as_str().map(str::to_owned))
}

/// The chart, with the text as its comment (`comment`), through Slack's external upload
/// flow; in `thread` when given.
#[allow(clippy::too_many_arguments)]
async fn upload(
    http: &reqwest::Client,
    settings: &SlackSettings,
    token: &str,
    id: &str,
    msg: &Message,
    bytes: &[u8],
    thread: Option<&str>,
    comment: bool,
) -> Result<(), NotifyError> {
    let id = id.to_owned();
    let filename = msg.chart_name();
    let upload = call(
        http,
        settings,
        token,
        "files.getUploadURLExternal",
        &[
            ("filename", filename.clone()),
            ("length", bytes.len().to_string()),
        ],
    )
    .await?;
    let (Some(url), Some(file_id)) = (upload["upload_url"].as_str(), upload["file_id"].as_str())
    else {
        return Err(slack_error(
            "files.getUploadURLExternal",
            "no upload_url or file_id in the answer",
        ));
    };
    let sent = http
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| slack_error("file upload", without_url(&e)))?;
    if !sent.status().is_success() {
        return Err(slack_error(
            "file upload",
            format!("HTTP {}", sent.status()),
        ));
    }
    let files = json!([{ "id": file_id, "title": msg.title }]).to_string();
    let mut form = vec![("files", files), ("channel_id", id)];
    if comment {
        form.push(("initial_comment", text(msg)));
    }
    if let Some(ts) = thread {
        form.push(("thread_ts", ts.to_owned()));
    }
    call(http, settings, token, "files.completeUploadExternal", &form).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_from_names() {
        assert!(is_channel_id("C0123456789"));
        assert!(!is_channel_id("alerts"));
        assert!(!is_channel_id("C01"));
        assert!(!is_channel_id("Cabcdefghij"));
    }

    #[test]
    fn feedback_links_are_slack_links_under_the_text() {
        let msg = Message {
            kind: "anomaly".into(),
            batch: "b".into(),
            metric: "m".into(),
            title: "🔥 [m] looks anomalous".into(),
            description: "value <9>".into(),
            tags: Default::default(),
            points: Vec::new(),
            threshold: None,
            score_label: String::new(),
            table: None,
            feedback: Some(super::super::message::FeedbackLinks {
                useful: "https://a.example.com/feedback/u.1".into(),
                not_useful: "https://a.example.com/feedback/d.2".into(),
            }),
            incident: None,
        };
        assert_eq!(
            text(&msg),
            "*🔥 [m] looks anomalous*\nvalue &lt;9&gt;\nWas this useful? <https://a.example.com/feedback/u.1|👍 Useful>  ·  <https://a.example.com/feedback/d.2|👎 Not useful>"
        );
    }
}
