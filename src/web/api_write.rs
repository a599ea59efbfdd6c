//! The write side of `/api/v1`, for scripts and orchestrators: push metric rows, run a job and
//! follow it, give feedback, manage silences. Every call needs an API token made in the admin
//! panel (`Authorization: Bearer ask_…`), checked against its stored digest; a call that
//! changes something needs a token with the `write` scope.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::secret_id::digest;
use super::{AppState, WebError};
use crate::jobs::{self, Delivery, JobCtx, Pushed, Trigger};
use crate::notify::silence::SilenceForm;
use crate::queue::{ALL_BATCHES, Job, enqueue_now};
use crate::sources::{RawRow, RawValue};
use crate::store::{Feedback, RunFilter, Silence, Store, TokenUse};
use crate::timestamp::{format_db, parse_lenient};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/metrics", post(push_metrics))
        .route("/api/v1/batches/{batch}/ingest", post(push_rows))
        .route("/api/v1/batches/{batch}/jobs/{job}", post(run_job))
        .route("/api/v1/summary/run", post(run_summary))
        .route("/api/v1/queue/{id}", get(queue_status))
        .route("/api/v1/batches/{batch}/feedback", post(feedback))
        .route("/api/v1/silences", get(list_silences).post(create_silence))
        .route("/api/v1/silences/{id}/expire", post(expire_silence))
        .route(
            "/api/v1/incidents/{id}/acknowledge",
            post(acknowledge_incident),
        )
        .route("/api/v1/incidents/{id}/resolve", post(resolve_incident))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A caller holding a live API token with the `write` scope: what every endpoint that changes
/// something takes. A read token is refused (403).
pub struct ApiClient {
    pub token_name: String,
}

/// A caller holding a live API token of any scope: what the read endpoints of this area
/// (queue status, the silence list) take.
pub struct ApiReader;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn internal(context: &str, e: &dyn std::fmt::Display) -> Response {
    WebError::internal(context, e).into_response()
}

/// The live token of a request's `Authorization: Bearer` header, its use recorded; else the
/// answer: 401 with `WWW-Authenticate` without a token or with an unknown or revoked one.
/// The token itself never reaches a log or an answer. Shared by the write API and `/mcp`.
pub async fn bearer_token(headers: &HeaderMap, store: &Store) -> Result<TokenUse, Response> {
    let unauthorized = |why: &str| {
        let mut r = error(StatusCode::UNAUTHORIZED, why);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"anomstack\""),
        );
        r
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return Err(unauthorized(
            "this endpoint needs an API token: `Authorization: Bearer <token>` (create one under /admin/tokens)",
        ));
    };
    match store
        .use_api_token(&digest(token), Utc::now().naive_utc())
        .await
    {
        Ok(Some(used)) => Ok(used),
        Ok(None) => Err(unauthorized("the API token is unknown or revoked")),
        Err(e) => Err(internal("checking the API token", &e)),
    }
}

impl FromRequestParts<AppState> for ApiClient {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let used = bearer_token(&parts.headers, &state.store).await?;
        if !used.scope.can_write() {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!(
                    "the API token `{}` may only read; this endpoint changes data and needs a token with the write scope (create one under /admin/tokens)",
                    used.name
                ),
            ));
        }
        Ok(ApiClient {
            token_name: used.name,
        })
    }
}

impl FromRequestParts<AppState> for ApiReader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        bearer_token(&parts.headers, &state.store).await?;
        Ok(ApiReader)
    }
}

/// A JSON body, or the answer for one that is not: 413 for a body over the limit, 400 with
/// what was expected otherwise (415 without a JSON content type).
fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
    expected: &str,
) -> Result<T, (StatusCode, String)> {
    body.map(|Json(b)| b).map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return (
                status,
                format!(
                    "the body is over {} MiB; split it (at most {MAX_PUSH_ROWS} rows per push)",
                    MAX_BODY_BYTES / (1024 * 1024)
                ),
            );
        }
        if e.body_text().contains(TOO_MANY_ROWS) {
            return (StatusCode::PAYLOAD_TOO_LARGE, TOO_MANY_ROWS.to_owned());
        }
        let status = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        (status, format!("expected {expected}: {e}"))
    })
}

fn no_batch(name: &str) -> Response {
    WebError::no_batch(name).into_response()
}

/// One pushed row; the field names are the metrics table's columns.
#[derive(Debug, Deserialize)]
struct PushedRow {
    /// Needed by `/api/v1/metrics`; ignored by a batch's own ingest route.
    metric_batch: Option<String>,
    metric_name: Option<String>,
    metric_value: Option<PushedValue>,
    metric_timestamp: Option<String>,
}

/// A pushed value as it came. An array or object is skipped while the body is parsed (its
/// row is rejected), so a body cannot become millions of JSON values in memory.
#[derive(Debug)]
enum PushedValue {
    Number(f64),
    /// Read as a number when stored (`"12.5"`); anything else is a rejected row.
    Text(String),
    /// `true`, a list, an object: a rejected row.
    Other,
}

impl<'de> Deserialize<'de> for PushedValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl<'de> serde::de::Visitor<'de> for Scalar {
            type Value = PushedValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_f64<E>(self, v: f64) -> Result<PushedValue, E> {
                Ok(PushedValue::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<PushedValue, E> {
                Ok(PushedValue::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<PushedValue, E> {
                Ok(PushedValue::Number(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<PushedValue, E> {
                Ok(PushedValue::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<PushedValue, E> {
                Ok(PushedValue::Text(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<PushedValue, E> {
                Ok(PushedValue::Other)
            }
            // Skipped without keeping anything: the row is rejected like any non-number.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PushedValue, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(PushedValue::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PushedValue, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(PushedValue::Other)
            }
        }
        d.deserialize_any(Scalar)
    }
}

#[derive(Debug, Deserialize)]
struct PushBody {
    #[serde(deserialize_with = "at_most_max_rows")]
    rows: Vec<PushedRow>,
}

/// What a push over the row limit is told (and how `json_body` recognises it for a 413).
const TOO_MANY_ROWS: &str = "more rows than the 50000 a push may hold; split it";

/// The rows, refused as soon as one more than [`MAX_PUSH_ROWS`] arrives: parsing stops there
/// rather than holding the whole list first.
fn at_most_max_rows<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PushedRow>, D::Error> {
    struct Rows;
    impl<'de> serde::de::Visitor<'de> for Rows {
        type Value = Vec<PushedRow>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of rows")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<PushedRow>, A::Error> {
            let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(row) = seq.next_element()? {
                if rows.len() == MAX_PUSH_ROWS {
                    return Err(serde::de::Error::custom(TOO_MANY_ROWS));
                }
                rows.push(row);
            }
            Ok(rows)
        }
    }
    d.deserialize_seq(Rows)
}

/// Rows per push; bigger loads should be split.
pub const MAX_PUSH_ROWS: usize = 50_000;
/// Bytes of a request body: room for MAX_PUSH_ROWS rows with names at their 200-byte limit.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

async fn push_rows(
    State(state): State<AppState>,
    Path(name): Path<String>,
    client: ApiClient,
    body: Result<Json<PushBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match json_body(body, r#"{"rows": [...]}"#) {
        Ok(b) => b,
        Err((status, why)) => return error(status, why),
    };
    let (status, answer) = push(&state, &client, &name, body.rows).await;
    (status, Json(answer)).into_response()
}

/// `POST /api/v1/metrics`: rows of any batches, each naming its `metric_batch` (the metrics
/// table's shape), stored batch by batch. 200 when every batch took its rows, else 422 with
/// each batch's answer.
async fn push_metrics(
    State(state): State<AppState>,
    client: ApiClient,
    body: Result<Json<PushBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match json_body(body, r#"{"rows": [{"metric_batch": ..., ...}]}"#) {
        Ok(b) => b,
        Err((status, why)) => return error(status, why),
    };
    let mut by_batch: std::collections::BTreeMap<String, Vec<PushedRow>> = Default::default();
    for (i, row) in body.rows.into_iter().enumerate() {
        let Some(batch) = row.metric_batch.clone().filter(|b| !b.is_empty()) else {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "row {}: no metric_batch (or push to /api/v1/batches/{{batch}}/ingest)",
                    i + 1
                ),
            );
        };
        by_batch.entry(batch).or_default().push(row);
    }
    let config = state.config.current();
    if let Some(unknown) = by_batch.keys().find(|b| config.batch(b).is_none()) {
        // Nothing stored: a typo in one batch name should not half-apply a push.
        return no_batch(unknown);
    }
    let mut all_ok = true;
    let mut batches = Vec::new();
    for (name, rows) in by_batch {
        let (status, answer) = push(&state, &client, &name, rows).await;
        all_ok &= status == StatusCode::OK;
        batches.push(answer);
    }
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(json!({ "batches": batches }))).into_response()
}

/// Stores one batch's pushed rows as an ingest run; the answer says what was written and
/// which rows were rejected, and why.
async fn push(
    state: &AppState,
    client: &ApiClient,
    name: &str,
    rows: Vec<PushedRow>,
) -> (StatusCode, Value) {
    let config = state.config.current();
    let Some(batch) = config.batch(name) else {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": WebError::no_batch(name).message()}),
        );
    };
    let now = format_db(Utc::now().naive_utc());
    let raw: Vec<RawRow> = rows
        .into_iter()
        .map(|r| RawRow {
            // A row without a time is "now", as an ingest query's would be.
            timestamp: Some(r.metric_timestamp.unwrap_or_else(|| now.clone())),
            name: r.metric_name,
            value: match r.metric_value {
                Some(PushedValue::Number(v)) => RawValue::Number(v),
                Some(PushedValue::Text(s)) => RawValue::Text(s),
                Some(PushedValue::Other) | None => RawValue::Missing,
            },
        })
        .collect();
    // Alerts are sent after answering, so a slow channel does not hold the request.
    let ctx = JobCtx {
        delivery: Delivery::Detached,
        ..JobCtx::for_run(&state.services, config.templates.clone(), Utc::now())
    };
    let Pushed { rejected, result } = jobs::push(&ctx, batch, raw).await;
    let rejected_json: Vec<Value> = rejected
        .iter()
        .take(100)
        .map(|r| json!({"row": r.row, "reason": r.reason}))
        .collect();
    match result {
        Ok(report) => {
            tracing::info!(
                token = client.token_name,
                batch = batch.name(),
                rows = report.rows_written,
                "rows pushed"
            );
            (
                StatusCode::OK,
                json!({
                    "batch": batch.name(),
                    "rows_written": report.rows_written,
                    "rows_rejected": rejected.len(),
                    "rejected": rejected_json,
                }),
            )
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "batch": batch.name(),
                "error": e.to_string(),
                "rows_rejected": rejected.len(),
                "rejected": rejected_json,
            }),
        ),
    }
}

async fn run_job(
    State(state): State<AppState>,
    Path((name, job)): Path<(String, String)>,
    client: ApiClient,
) -> Response {
    let config = state.config.current();
    let Some(batch) = config.batch(&name) else {
        return no_batch(&name);
    };
    let job = match job.parse::<Job>() {
        Ok(job @ (Job::Batch(_) | Job::Pipeline)) => job,
        _ => return error(StatusCode::NOT_FOUND, format!("no job named `{job}`")),
    };
    queue(&state, &client, batch.name(), job).await
}

async fn run_summary(State(state): State<AppState>, client: ApiClient) -> Response {
    queue(&state, &client, ALL_BATCHES, Job::Summary).await
}

async fn queue(state: &AppState, client: &ApiClient, batch: &str, job: Job) -> Response {
    let queued = match enqueue_now(&state.store, batch, job, Trigger::Api).await {
        Ok(q) => q,
        Err(e) => return internal("queueing the job", &e),
    };
    tracing::info!(
        token = client.token_name,
        batch,
        job = job.as_str(),
        id = queued.0,
        "job queued through the API"
    );
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "id": queued.0,
            "batch": batch,
            "job": job.as_str(),
            "coalesced": queued.1,
            "status_url": format!("/api/v1/queue/{}", queued.0),
        })),
    )
        .into_response()
}

async fn queue_status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    _client: ApiReader,
) -> Response {
    let entry = match state.store.queue_entry(id).await {
        Ok(Some(e)) => e,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no queued job #{id}")),
        Err(e) => return internal("reading the queue", &e),
    };
    let filter = RunFilter {
        queue_id: Some(id),
        ..RunFilter::default()
    };
    let runs = match state.store.runs(&filter, 20).await {
        Ok(r) => r,
        Err(e) => return internal("reading runs", &e),
    };
    let stamp = |t: chrono::NaiveDateTime| t.and_utc().to_rfc3339();
    Json(json!({
        "id": entry.id,
        "batch": entry.batch,
        "job": entry.job,
        "trigger": entry.trigger,
        "status": entry.status,
        "finished": entry.is_finished(),
        "attempts": entry.attempts,
        "max_attempts": entry.max_attempts,
        "last_error": entry.last_error,
        "runs": runs.iter().rev().map(|r| json!({
            "id": r.id, "job": r.job, "status": r.status.as_str(),
            "started_at": stamp(r.started_at), "finished_at": r.finished_at.map(stamp),
            "rows_read": r.rows_read, "rows_written": r.rows_written, "error": r.error,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct FeedbackBody {
    metric: String,
    timestamp: String,
    /// `up`, `down` or `clear`.
    verdict: String,
}

async fn feedback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _client: ApiClient,
    body: Result<Json<FeedbackBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match json_body(body, r#"{"metric", "timestamp", "verdict"}"#) {
        Ok(b) => b,
        Err((status, why)) => return error(status, why),
    };
    let config = state.config.current();
    let Some(batch) = config.batch(&name) else {
        return no_batch(&name);
    };
    if let Some(why) = crate::names::problem(&body.metric) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let Some(ts) = parse_lenient(&body.timestamp) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unreadable timestamp `{}`", body.timestamp),
        );
    };
    let verdict = match body.verdict.as_str() {
        "up" => Some(Feedback::Up),
        "down" => Some(Feedback::Down),
        "clear" => None,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("verdict must be up, down or clear, not `{other}`"),
            );
        }
    };
    let table = &batch.spec.table_key;
    match state
        .store
        .is_anomaly(table, batch.name(), &body.metric, ts)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return error(
                StatusCode::NOT_FOUND,
                "no anomaly of this metric at this time",
            );
        }
        Err(e) => return internal("looking up the anomaly", &e),
    }
    match state.store.set_feedback(table, batch.name(), &body.metric, ts, verdict).await {
        Ok(()) => Json(json!({"batch": batch.name(), "metric": body.metric, "timestamp": format_db(ts), "verdict": body.verdict})).into_response(),
        Err(e) => internal("storing feedback", &e),
    }
}

fn silence_json(s: &Silence) -> Value {
    let stamp = |t: chrono::NaiveDateTime| t.and_utc().to_rfc3339();
    json!({
        "id": s.id, "batch": s.batch, "metric": s.metric,
        "tag": if s.tag_key.is_empty() { Value::Null } else { json!(format!("{}={}", s.tag_key, s.tag_value)) },
        "comment": s.comment, "created_by": s.created_by,
        "starts_at": stamp(s.starts_at), "ends_at": stamp(s.ends_at),
    })
}

async fn list_silences(State(state): State<AppState>, _client: ApiReader) -> Response {
    match state.store.silences(Utc::now().naive_utc(), false).await {
        Ok(list) => Json(list.iter().map(silence_json).collect::<Vec<_>>()).into_response(),
        Err(e) => internal("reading silences", &e),
    }
}

async fn create_silence(
    State(state): State<AppState>,
    client: ApiClient,
    body: Result<Json<SilenceForm>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match json_body(
        body,
        r#"{"duration", "batch"?, "metric"?, "tag"?, "comment"?}"#,
    ) {
        Ok(b) => b,
        Err((status, why)) => return error(status, why),
    };
    let config = state.config.current();
    let by = format!("token:{}", client.token_name);
    let new = match body.silence(&by, |b| config.batch(b).is_some()) {
        Ok(s) => s,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match state.store.create_silence(&new).await {
        Ok(id) => {
            let now = Utc::now().naive_utc();
            match state.store.silences(now, true).await {
                Ok(list) => match list.iter().find(|s| s.id == id) {
                    Some(s) => (StatusCode::CREATED, Json(silence_json(s))).into_response(),
                    None => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
                },
                Err(e) => internal("reading the new silence", &e),
            }
        }
        Err(e) => internal("creating a silence", &e),
    }
}

async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    _client: ApiClient,
) -> Response {
    match state.store.expire_silence(id, Utc::now().naive_utc()).await {
        Ok(true) => Json(json!({"id": id, "expired": true})).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no silence #{id} in force")),
        Err(e) => internal("ending a silence", &e),
    }
}

/// Moves incident `id` to `to` for `client`: its state after, or why not.
async fn move_incident(
    state: &AppState,
    id: i64,
    to: crate::incident::State,
    client: &ApiClient,
) -> Response {
    use crate::store::Transition;
    let actor = format!("API token “{}”", client.token_name);
    match state
        .store
        .set_incident_state(id, to, &actor, Utc::now().naive_utc())
        .await
    {
        Ok(Transition::Missing) => error(StatusCode::NOT_FOUND, format!("no incident #{id}")),
        Ok(moved) => {
            let changed = moved == Transition::Changed;
            match state.store.incident(id).await {
                Ok(Some(i)) => {
                    let mut out = i.json();
                    out["changed"] = changed.into();
                    Json(out).into_response()
                }
                Ok(None) => error(StatusCode::NOT_FOUND, format!("no incident #{id}")),
                Err(e) => internal("reading the incident", &e),
            }
        }
        Err(e) => internal("changing the incident", &e),
    }
}

async fn acknowledge_incident(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    client: ApiClient,
) -> Response {
    move_incident(&state, id, crate::incident::State::Acknowledged, &client).await
}

async fn resolve_incident(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    client: ApiClient,
) -> Response {
    move_incident(&state, id, crate::incident::State::Resolved, &client).await
}
