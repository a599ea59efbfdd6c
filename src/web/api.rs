//! The read-only JSON API under `/api/v1` (batches, metric figures, series with scores and
//! alerts, anomalies with feedback) and its OpenAPI document. Same data as the pages, for
//! scripts and other dashboards.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, DashboardBatch, WebError};
use crate::store::{ANOMALY_KINDS, BatchSummary, Feedback, KindCounts, MetricType, Window};
use crate::version;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/batches", get(batches))
        .route("/api/v1/batches/{batch}/metrics", get(metrics))
        .route(
            "/api/v1/batches/{batch}/metrics/{metric}/series",
            get(series),
        )
        .route("/api/v1/batches/{batch}/anomalies", get(anomalies))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/incidents/{id}", get(incident))
}

/// The newest incidents, open and acknowledged ones first.
async fn incidents(State(state): State<AppState>) -> Result<Response, WebError> {
    let list = state
        .store
        .incidents(100)
        .await
        .map_err(|e| WebError::internal("reading incidents", &e))?;
    Ok(Json(Value::Array(list.iter().map(|i| i.json()).collect())).into_response())
}

/// One incident with its timeline.
async fn incident(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let read = |e: crate::store::StoreError| WebError::internal("reading the incident", &e);
    let Some(found) = state.store.incident(id).await.map_err(read)? else {
        return Err(WebError::NotFound(format!("no incident #{id}")));
    };
    let events = state.store.incident_events(id).await.map_err(read)?;
    let mut out = found.json();
    out["timeline"] = events
        .iter()
        .map(|e| {
            json!({
                "at": stamp(e.at), "event": e.event, "batch": e.batch, "metric": e.metric,
                "actor": e.actor, "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct WindowQuery {
    window: Option<String>,
}

fn window_of(q: &WindowQuery) -> Result<Window, WebError> {
    match q.window.as_deref() {
        None | Some("") => Ok(Window::default()),
        Some(raw) => raw.parse().map_err(WebError::BadRequest),
    }
}

fn stamp(ts: NaiveDateTime) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The batches' figures over `window` (24 h unless asked, as the home page counts them).
async fn batches(
    State(state): State<AppState>,
    Query(q): Query<WindowQuery>,
) -> Result<Response, WebError> {
    let window = match q.window.as_deref() {
        None | Some("") => Window::Hours(24),
        Some(_) => window_of(&q)?,
    };
    let config = state.config.current();
    let mut out = Vec::new();
    for batch in config.dashboard_batches() {
        let spec = &batch.spec;
        let stats = state
            .stats
            .get(&state.store, batch, window, false)
            .await
            .map_err(|e| WebError::internal("reading the batches", &e))?;
        let summary = BatchSummary::of(&stats);
        out.push(json!({
            "name": batch.name(),
            "metrics": summary.metrics,
            "latest": summary.latest.map(stamp),
            "avg_score": summary.avg_score,
            "anomalies": summary.anomalies,
            "anomalous_now": summary.anomalous_now,
            "stale": summary.stale,
            "kinds": kinds_json(&summary.kinds),
            "ingest_cron_schedule": spec.ingest_cron_schedule.as_str(),
        }));
    }
    Ok(Json(Value::Array(out)).into_response())
}

async fn metrics(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Query(q): Query<WindowQuery>,
) -> Result<Response, WebError> {
    let (batch, window) = (shown.batch(), window_of(&q)?);
    let stats = state
        .stats
        .get(&state.store, batch, window, false)
        .await
        .map_err(|e| WebError::internal("reading the batch's metrics", &e))?;
    Ok(Json(
        stats
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "latest": stamp(s.latest),
                    "points": s.points,
                    "avg_score": s.avg_score,
                    "anomaly_rate": s.anomaly_rate(),
                    "anomalies": s.anomalies,
                    "anomalous_now": s.anomalous_now,
                    "stale": s.stale,
                    "kinds": kinds_json(&s.kinds),
                })
            })
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn series(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Path((name, metric)): Path<(String, String)>,
    Query(q): Query<WindowQuery>,
) -> Result<Response, WebError> {
    let (batch, window) = (shown.batch(), window_of(&q)?);
    let points = shown.series(&state.store, &metric, window).await?;
    if points.is_empty() {
        return Err(WebError::NotFound(format!(
            "no points for metric `{metric}` of batch `{name}` in this window"
        )));
    }
    Ok(Json(json!({
        "batch": batch.name(),
        "metric": metric,
        "window": window.to_string(),
        "points": points.iter().map(|p| json!({
            "timestamp": stamp(p.timestamp),
            "value": p.value,
            "score": p.score,
            "alert": p.alert,
            "llmalert": p.llmalert,
            "change": p.change,
            "tholdalert": p.tholdalert,
            "feedback": p.feedback.map(feedback_name),
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Flags of each kind, keyed by the kind's name (as the `kind` filter spells it).
fn kinds_json(kinds: &KindCounts) -> Value {
    Value::Object(
        kinds
            .each()
            .iter()
            .map(|(k, n)| (k.as_str().to_owned(), json!(n)))
            .collect(),
    )
}

fn feedback_name(f: Feedback) -> &'static str {
    match f {
        Feedback::Up => "thumbsup",
        Feedback::Down => "thumbsdown",
    }
}

#[derive(Debug, Default, Deserialize)]
struct AnomalyQuery {
    kind: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

async fn anomalies(
    State(state): State<AppState>,
    shown: DashboardBatch,
    Query(q): Query<AnomalyQuery>,
) -> Result<Response, WebError> {
    let batch = shown.batch();
    let kinds: Vec<MetricType> = match q.kind.as_deref() {
        None | Some("") => Vec::new(),
        Some(k) => match k.parse::<MetricType>() {
            Ok(t) if ANOMALY_KINDS.contains(&t) => vec![t],
            _ => {
                return Err(WebError::BadRequest(format!(
                    "kind `{k}`: expected alert, llmalert, change or tholdalert"
                )));
            }
        },
    };
    let per_page = q.per_page.unwrap_or(50).clamp(1, 500);
    let page = q.page.unwrap_or(1).max(1);
    let (items, total) = state
        .store
        .anomalies(
            &batch.spec.table_key,
            batch.name(),
            &kinds,
            (page - 1).saturating_mul(per_page),
            per_page,
        )
        .await
        .map_err(|e| WebError::internal("reading the anomalies", &e))?;
    Ok(Json(json!({
            "total": total,
            "page": page,
            "per_page": per_page,
            "items": items.iter().map(|a| json!({
                "metric": a.metric,
                "timestamp": stamp(a.timestamp),
                "kinds": a.flags.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(),
                "flags": a.flags.iter().map(|f| json!({"kind": f.kind.as_str(), "metadata": f.metadata})).collect::<Vec<_>>(),
                "value": a.value,
                "feedback": a.feedback.map(feedback_name),
            })).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

/// The OpenAPI 3.1 description of this API.
pub fn openapi_document() -> Value {
    let window = json!({"name": "window", "in": "query", "required": false,
        "description": "Newest N points per metric (90n, the default) or a time span (45m, 24h, 7d)",
        "schema": {"type": "string", "pattern": "^[0-9]+[nNmMhHdD]?$"}});
    let batch =
        json!({"name": "batch", "in": "path", "required": true, "schema": {"type": "string"}});
    let metric =
        json!({"name": "metric", "in": "path", "required": true, "schema": {"type": "string"}});
    let err = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let ok = |schema: Value| json!({"description": "OK", "content": {"application/json": {"schema": schema}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "anomstack API",
            "version": version::VERSION,
            "description": "Batches, metrics, scores, alerts and feedback (read, no token), and writes for scripts (push rows, run jobs, feedback, silences) with an API token made under /admin/tokens."
        },
        "paths": {
            "/api/v1/batches": {"get": {"summary": "Batches shown on the dashboard, with their figures over a window (default 24h, as the home page)",
                "parameters": [window],
                "responses": {"200": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Batch"}}))}}},
            "/api/v1/batches/{batch}/metrics": {"get": {"summary": "Figures of each metric of a batch over a window",
                "parameters": [batch, window],
                "responses": {"200": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/MetricStats"}})), "400": err, "404": err}}},
            "/api/v1/batches/{batch}/metrics/{metric}/series": {"get": {"summary": "A metric's values, scores, alerts and feedback over a window",
                "parameters": [batch, metric, window],
                "responses": {"200": ok(json!({"$ref": "#/components/schemas/Series"})), "400": err, "404": err}}},
            "/api/v1/batches/{batch}/anomalies": {"get": {"summary": "Anomalies of a batch, newest first",
                "parameters": [batch,
                    {"name": "kind", "in": "query", "required": false, "schema": {"type": "string", "enum": ["alert", "llmalert", "change", "tholdalert"]}},
                    {"name": "page", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1}},
                    {"name": "per_page", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
                "responses": {"200": ok(json!({"$ref": "#/components/schemas/AnomalyPage"})), "400": err, "404": err}}},
            "/api/v1/metrics": {"post": {"summary": "Store pushed metric rows of any batches, each row naming its metric_batch; no row is stored when a batch is unknown",
                "security": [{"bearer": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Push"}}}},
                "responses": {"200": ok(json!({"type": "object", "properties": {"batches": {"type": "array", "items": {"$ref": "#/components/schemas/PushResult"}}}})),
                    "400": err, "401": err, "404": err, "413": err, "422": err}}},
            "/api/v1/batches/{batch}/ingest": {"post": {"summary": "Store pushed metric rows in a batch (recorded as an ingest run); bad rows are rejected and listed",
                "security": [{"bearer": []}], "parameters": [batch.clone()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Push"}}}},
                "responses": {"200": ok(json!({"$ref": "#/components/schemas/PushResult"})), "400": err, "401": err, "404": err, "413": err, "422": err}}},
            "/api/v1/batches/{batch}/jobs/{job}": {"post": {"summary": "Queue a job of a batch (ingest, train, score, alert, change, llmalert, plot, delete or pipeline)",
                "security": [{"bearer": []}],
                "parameters": [batch.clone(), {"name": "job", "in": "path", "required": true, "schema": {"type": "string",
                    "enum": ["ingest", "train", "score", "alert", "change", "llmalert", "plot", "delete", "pipeline"]}}],
                "responses": {"202": ok(json!({"$ref": "#/components/schemas/Queued"})), "401": err, "404": err}}},
            "/api/v1/summary/run": {"post": {"summary": "Queue the daily summary", "security": [{"bearer": []}],
                "responses": {"202": ok(json!({"$ref": "#/components/schemas/Queued"})), "401": err}}},
            "/api/v1/queue/{id}": {"get": {"summary": "A queued job's status and the runs it made", "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": ok(json!({"type": "object"})), "401": err, "404": err}}},
            "/api/v1/batches/{batch}/feedback": {"post": {"summary": "Mark an anomaly as real (up), a false alarm (down), or clear it", "security": [{"bearer": []}],
                "parameters": [batch.clone()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["metric", "timestamp", "verdict"],
                    "properties": {"metric": {"type": "string"}, "timestamp": {"type": "string"}, "verdict": {"type": "string", "enum": ["up", "down", "clear"]}}}}}},
                "responses": {"200": ok(json!({"type": "object"})), "400": err, "401": err, "404": err}}},
            "/api/v1/silences": {
                "get": {"summary": "Silences in force", "security": [{"bearer": []}],
                    "responses": {"200": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Silence"}})), "401": err}},
                "post": {"summary": "Create a silence (at least one of batch, metric, tag)", "security": [{"bearer": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["duration"],
                        "properties": {"batch": {"type": "string"}, "metric": {"type": "string", "description": "name or glob with *"},
                            "tag": {"type": "string", "description": "key=value"}, "duration": {"type": "string", "example": "4h"}, "comment": {"type": "string"}}}}}},
                    "responses": {"201": ok(json!({"$ref": "#/components/schemas/Silence"})), "400": err, "401": err}}},
            "/api/v1/silences/{id}/expire": {"post": {"summary": "End a silence now", "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": ok(json!({"type": "object"})), "401": err, "404": err}}},
            "/api/v1/incidents": {"get": {"summary": "The newest incidents (alerts grouped by batch or shared tag), open and acknowledged ones first",
                "responses": {"200": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Incident"}}))}}},
            "/api/v1/incidents/{id}": {"get": {"summary": "One incident with its timeline",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": ok(json!({"$ref": "#/components/schemas/Incident"})), "404": err}}},
            "/api/v1/incidents/{id}/acknowledge": {"post": {"summary": "Acknowledge an open incident (recorded as by the token); `changed` is false when it was already acknowledged or resolved", "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": ok(json!({"$ref": "#/components/schemas/Incident"})), "401": err, "403": err, "404": err}}},
            "/api/v1/incidents/{id}/resolve": {"post": {"summary": "Resolve an incident (recorded as by the token)", "security": [{"bearer": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": ok(json!({"$ref": "#/components/schemas/Incident"})), "401": err, "403": err, "404": err}}}
        },
        "components": {
          "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token from /admin/tokens (ask_…)"}},
          "schemas": {
            "Incident": {"type": "object", "properties": {
                "id": {"type": "integer"}, "state": {"type": "string", "enum": ["open", "acknowledged", "resolved"]},
                "batch": {"type": "string"}, "title": {"type": "string"},
                "opened_at": {"type": "string"}, "last_alert_at": {"type": "string"},
                "acknowledged": {"type": ["object", "null"], "properties": {"at": {"type": "string"}, "by": {"type": "string"}}},
                "resolved": {"type": ["object", "null"], "properties": {"at": {"type": "string"}, "by": {"type": "string"}}},
                "metrics": {"type": "array", "items": {"type": "object", "properties": {
                    "batch": {"type": "string"}, "metric": {"type": "string"}, "kind": {"type": "string"},
                    "alerts": {"type": "integer"}, "first_flagged": {"type": "string"}, "last_flagged": {"type": "string"},
                    "back_to_normal": {"type": ["string", "null"]}}}},
                "timeline": {"type": "array", "items": {"type": "object"}},
                "changed": {"type": "boolean"}}},
            "Push": {"type": "object", "required": ["rows"], "description": "At most 50,000 rows and 32 MiB per request (413 beyond)",
                "properties": {"rows": {"type": "array", "maxItems": 50000, "items": {"type": "object",
                "required": ["metric_name", "metric_value"], "properties": {"metric_name": {"type": "string", "maxLength": 200, "description": "at most 200 bytes of UTF-8, no control characters"},
                "metric_value": {"type": ["number", "string"]}, "metric_timestamp": {"type": "string", "description": "default: now"},
                "metric_batch": {"type": "string", "description": "needed by /api/v1/metrics; ignored by a batch's own route"}}}}}},
            "PushResult": {"type": "object", "properties": {"batch": {"type": "string"}, "rows_written": {"type": "integer"},
                "rows_rejected": {"type": "integer"}, "rejected": {"type": "array", "items": {"type": "object",
                "properties": {"row": {"type": "integer"}, "reason": {"type": "string"}}}}}},
            "Queued": {"type": "object", "properties": {"id": {"type": "integer"}, "batch": {"type": "string"}, "job": {"type": "string"},
                "coalesced": {"type": "boolean"}, "status_url": {"type": "string"}}},
            "Silence": {"type": "object", "properties": {"id": {"type": "integer"}, "batch": {"type": "string"}, "metric": {"type": "string"},
                "tag": {"type": ["string", "null"]}, "comment": {"type": "string"}, "created_by": {"type": "string"},
                "starts_at": {"type": "string", "format": "date-time"}, "ends_at": {"type": "string", "format": "date-time"}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Batch": {"type": "object", "properties": {
                "name": {"type": "string"}, "metrics": {"type": "integer"},
                "latest": {"type": ["string", "null"], "format": "date-time"},
                "avg_score": {"type": ["number", "null"]},
                "anomalies": {"type": "integer", "description": "Flagged points (any kind) in the window"},
                "anomalous_now": {"type": "integer", "description": "Metrics whose newest point is flagged"},
                "stale": {"type": "integer", "description": "Metrics without new data for stale_after_n of their usual intervals"},
                "kinds": {"$ref": "#/components/schemas/Kinds"},
                "ingest_cron_schedule": {"type": "string"}}},
            "Kinds": {"type": "object", "description": "Points flagged by each kind; one point can be flagged by several",
                "properties": {"alert": {"type": "integer"}, "tholdalert": {"type": "integer"},
                "change": {"type": "integer"}, "llmalert": {"type": "integer"}}},
            "MetricStats": {"type": "object", "properties": {
                "name": {"type": "string"}, "latest": {"type": "string", "format": "date-time"},
                "points": {"type": "integer"}, "avg_score": {"type": ["number", "null"]},
                "anomalies": {"type": "integer", "description": "Flagged points (any kind) in the window"},
                "anomalous_now": {"type": "boolean", "description": "Whether the newest point is flagged"},
                "stale": {"type": "boolean", "description": "No new data for stale_after_n of its usual intervals"},
                "anomaly_rate": {"type": "number", "description": "anomalies / points"},
                "kinds": {"$ref": "#/components/schemas/Kinds"}}},
            "Point": {"type": "object", "properties": {
                "timestamp": {"type": "string", "format": "date-time"},
                "value": {"type": ["number", "null"]}, "score": {"type": ["number", "null"]},
                "alert": {"type": "boolean"}, "llmalert": {"type": ["string", "null"]},
                "change": {"type": "boolean"}, "tholdalert": {"type": ["string", "null"]},
                "feedback": {"type": ["string", "null"], "enum": ["thumbsup", "thumbsdown", null]}}},
            "Series": {"type": "object", "properties": {
                "batch": {"type": "string"}, "metric": {"type": "string"}, "window": {"type": "string"},
                "points": {"type": "array", "items": {"$ref": "#/components/schemas/Point"}}}},
            "Anomaly": {"type": "object", "properties": {
                "metric": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"},
                "kinds": {"type": "array", "items": {"type": "string", "enum": ["alert", "tholdalert", "change", "llmalert"]}},
                "flags": {"type": "array", "items": {"type": "object", "properties": {
                    "kind": {"type": "string"}, "metadata": {"type": "string"}}}},
                "value": {"type": ["number", "null"]},
                "feedback": {"type": ["string", "null"]}}},
            "AnomalyPage": {"type": "object", "properties": {
                "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Anomaly"}}}}
        }}
    })
}
