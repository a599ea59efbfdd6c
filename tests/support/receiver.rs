//! Real HTTP servers on 127.0.0.1 that stand in for Slack's Web API and for webhook receivers:
//! they answer like the real services and record every request for the test to inspect.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Form fields of an `application/x-www-form-urlencoded` body.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<Recorded>>>);

impl Log {
    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, path: &str, headers: HeaderMap, body: Bytes) {
        self.0.lock().unwrap().push(Recorded {
            path: path.to_owned(),
            headers,
            body,
        });
    }
}

/// Serves `router` on a free port; the base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

#[derive(Clone)]
struct SlackState {
    log: Log,
    base: Arc<Mutex<String>>,
    fail: bool,
    /// A bot without `files:write`: uploads are refused with `missing_scope`.
    no_files: bool,
}

/// Slack's Web API as the alert sender uses it: `conversations.list` in two pages (the
/// channel `alerts` is on the second), the external upload flow, and `chat.postMessage`.
/// With `fail`, every method answers 500.
pub async fn fake_slack(fail: bool) -> (String, Log) {
    slack_server(fail, false).await
}

/// Slack for a bot that may post messages but not upload files.
pub async fn fake_slack_without_files() -> (String, Log) {
    slack_server(false, true).await
}

async fn slack_server(fail: bool, no_files: bool) -> (String, Log) {
    let log = Log::default();
    let state = SlackState {
        log: log.clone(),
        base: Arc::new(Mutex::new(String::new())),
        fail,
        no_files,
    };
    let router = Router::new()
        .route("/api/{method}", post(slack_method))
        .route("/upload/{file}", post(slack_upload))
        .with_state(state.clone());
    let base = serve(router).await;
    *state.base.lock().unwrap() = base.clone();
    (format!("{base}/api"), log)
}

async fn slack_method(
    State(s): State<SlackState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.log.push(&method, headers.clone(), body.clone());
    if s.fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream trouble").into_response();
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer xoxb-test-token")
    {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let answer = match method.as_str() {
        "conversations.list" => match field("cursor").as_deref() {
            None => json!({"ok": true, "channels": [{"id": "C000GENERAL", "name": "general"}],
                           "response_metadata": {"next_cursor": "page2"}}),
            Some("page2") => {
                json!({"ok": true, "channels": [{"id": "C000ALERTS1", "name": "alerts"},
                                                          {"id": "C000ONCALL1", "name": "oncall"}],
                                    "response_metadata": {"next_cursor": ""}})
            }
            Some(_) => json!({"ok": false, "error": "invalid_cursor"}),
        },
        "files.getUploadURLExternal" if s.no_files => {
            json!({"ok": false, "error": "missing_scope"})
        }
        "files.getUploadURLExternal" => {
            let base = s.base.lock().unwrap().clone();
            json!({"ok": true, "upload_url": format!("{base}/upload/F123"), "file_id": "F123"})
        }
        "files.completeUploadExternal" => json!({"ok": true, "files": [{"id": "F123"}]}),
        // Each message its own ts, as Slack gives them (what threads refer to).
        "chat.postMessage" => {
            json!({"ok": true, "ts": format!("1700000000.{:06}", s.log.all().len())})
        }
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    axum::Json(answer).into_response()
}

async fn slack_upload(
    State(s): State<SlackState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = body.len();
    s.log.push(&format!("upload/{file}"), headers, body);
    (StatusCode::OK, format!("OK - {n}")).into_response()
}

#[derive(Clone)]
struct HookState {
    log: Log,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

/// A webhook receiver answering the given statuses in turn (then 200), recording requests.
pub async fn webhook_receiver(statuses: &[u16]) -> (String, Log) {
    let log = Log::default();
    let state = HookState {
        log: log.clone(),
        statuses: Arc::new(Mutex::new(statuses.iter().copied().collect())),
    };
    let router = Router::new()
        .route("/{*path}", post(hook))
        .with_state(state);
    (serve(router).await, log)
}

async fn hook(
    State(s): State<HookState>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.log.push(&path, headers, body);
    let status = s.statuses.lock().unwrap().pop_front().unwrap_or(200);
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "ok").into_response()
}

#[derive(Clone)]
struct LlmState {
    log: Log,
}

/// An OpenAI-compatible `/v1/chat/completions` that answers by the metric in the prompt:
/// `m1` has an anomaly at its newest point (detection also reports one the verification drops,
/// and one at a time not in the series), `m2` gets malformed JSON, `m3` an answer too slow to
/// wait for. The newest timestamp is taken from the prompt itself. The model `text-only` answers
/// a message with an image by HTTP 400, as OpenAI's text models do.
pub async fn fake_openai() -> (String, Log) {
    let log = Log::default();
    let router = Router::new()
        .route("/v1/chat/completions", post(completion))
        .with_state(LlmState { log: log.clone() });
    (format!("{}/v1", serve(router).await), log)
}

async fn completion(State(s): State<LlmState>, headers: HeaderMap, body: Bytes) -> Response {
    s.log.push("chat/completions", headers, body.clone());
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let content = &request["messages"][1]["content"];
    // A plain string, or the vision format's parts: text, then an image.
    let (user, image) = match content.as_array() {
        Some(parts) => (
            parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<String>(),
            parts.iter().any(|p| p["type"] == "image_url"),
        ),
        None => (content.as_str().unwrap_or_default().to_owned(), false),
    };
    // Like OpenAI's text-only models.
    if image && request["model"] == "text-only" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {
                "message": "Invalid content type. image_url is only supported by certain models.",
                "type": "invalid_request_error", "param": "messages.[1].content.[1].type"
            }})),
        )
            .into_response();
    }
    let metric = user
        .lines()
        .find_map(|l| l.strip_prefix("Metric: "))
        .unwrap_or_default()
        .to_owned();
    let series: Vec<&str> = user
        .lines()
        .filter(|l| l.len() > 20 && l.as_bytes()[4] == b'-' && l.contains(','))
        .collect();
    let newest = series
        .last()
        .and_then(|l| l.split(',').next())
        .unwrap_or_default()
        .to_owned();
    let older = series
        .get(series.len().saturating_sub(10))
        .and_then(|l| l.split(',').next())
        .unwrap_or_default()
        .to_owned();
    let verifying = user.contains("Candidate anomalies");
    let content = match metric.as_str() {
        "m1" if verifying => json!({"anomalies": [
            {"timestamp": newest, "variable_value": 39.0, "anomaly_description": "a sudden jump to about 39, far above the usual 10-14"}
        ]})
        .to_string(),
        "m1" => format!(
            "```json\n{}\n```",
            json!({"anomalies": [
                {"timestamp": newest, "variable_value": 39.0, "anomaly_description": "spike"},
                {"timestamp": older, "variable_value": 12.0, "anomaly_description": "maybe"},
                {"timestamp": "1999-01-01 00:00:00", "variable_value": 1.0, "anomaly_description": "invented"}
            ]})
        ),
        "m2" => "Sorry, I cannot answer that {".to_owned(),
        "m3" => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            json!({"anomalies": []}).to_string()
        }
        _ => json!({"anomalies": []}).to_string(),
    };
    axum::Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 90, "completion_tokens": 10, "total_tokens": 100}
    }))
    .into_response()
}
