//! A small Hrana v3 server over HTTP, for testing the app's Turso (remote) mode without Turso.
//!
//! No installable server speaks the current protocol (`/v3/pipeline` and `/v3/cursor`), so this
//! one executes each request on a local libsql file. It implements what the libsql client sends:
//! streams kept alive by batons (interactive transactions), execute, batch with conditions,
//! sequence, describe, stored SQL, autocommit checks, close, and NDJSON cursors. Requests must
//! carry `Authorization: Bearer <token>`; every header seen is recorded so tests can check it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use libsql::Connection;
use libsql_hrana::proto::{
    self, BatchCond, BatchResult, CloseSqlStreamResp, CloseStreamResp, Col, CursorReqBody,
    CursorRespBody, DescribeCol, DescribeParam, DescribeResult, DescribeStreamResp,
    ExecuteStreamResp, GetAutocommitStreamResp, PipelineReqBody, PipelineRespBody, Row,
    SequenceStreamResp, Stmt, StmtResult, StoreSqlStreamResp, StreamRequest, StreamResponse,
    StreamResult,
};
use serde_json::json;
use tokio::net::TcpListener;

pub struct HranaServer {
    /// `http://127.0.0.1:<port>`, to use as the database URL.
    pub url: String,
    /// The Authorization header of every request, in order.
    pub auth_headers: Arc<Mutex<Vec<String>>>,
    /// Number of HTTP requests served.
    pub requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HranaServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Stream {
    conn: Connection,
    sqls: HashMap<i32, String>,
}

struct ServerState {
    db: libsql::Database,
    token: String,
    streams: Mutex<HashMap<String, Stream>>,
    next_baton: AtomicU64,
    auth_headers: Arc<Mutex<Vec<String>>>,
    requests: Arc<AtomicU64>,
}

type Shared = Arc<ServerState>;

pub async fn start(db_path: &Path, token: &str) -> HranaServer {
    let db = libsql::Builder::new_local(db_path)
        .build()
        .await
        .expect("open the test server's database");
    let auth_headers = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(AtomicU64::new(0));
    let state = Arc::new(ServerState {
        db,
        token: token.to_owned(),
        streams: Mutex::new(HashMap::new()),
        next_baton: AtomicU64::new(1),
        auth_headers: auth_headers.clone(),
        requests: requests.clone(),
    });
    let app = Router::new()
        .route("/v3/pipeline", post(pipeline))
        .route("/v3/cursor", post(cursor))
        .route("/v3", axum::routing::get(|| async { "" }))
        .with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    HranaServer {
        url: format!("http://{addr}"),
        auth_headers,
        requests,
        task,
    }
}

fn authorized(state: &ServerState, headers: &HeaderMap) -> bool {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.auth_headers.lock().unwrap().push(auth.clone());
    auth == format!("Bearer {}", state.token)
}

/// Takes the stream for `baton`, or opens a new one.
fn take_stream(state: &ServerState, baton: Option<&str>) -> Result<Stream, String> {
    match baton {
        Some(b) => state
            .streams
            .lock()
            .unwrap()
            .remove(b)
            .ok_or_else(|| format!("unknown baton {b}")),
        None => Ok(Stream {
            conn: state.db.connect().expect("connect"),
            sqls: HashMap::new(),
        }),
    }
}

fn put_stream(state: &ServerState, stream: Stream) -> String {
    let baton = format!("baton-{}", state.next_baton.fetch_add(1, Ordering::SeqCst));
    state.streams.lock().unwrap().insert(baton.clone(), stream);
    baton
}

async fn pipeline(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let req: PipelineReqBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut stream = match take_stream(&state, req.baton.as_deref()) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut results = Vec::new();
    let mut closed = false;
    for request in req.requests {
        let response = match request {
            StreamRequest::None => Err(error("empty request")),
            StreamRequest::Close(_) => {
                closed = true;
                Ok(StreamResponse::Close(CloseStreamResp {}))
            }
            StreamRequest::Execute(r) => execute(&stream, &r.stmt)
                .await
                .map(|result| StreamResponse::Execute(ExecuteStreamResp { result })),
            StreamRequest::Batch(r) => Ok(StreamResponse::Batch(proto::BatchStreamResp {
                result: run_batch(&stream, &r.batch).await,
            })),
            StreamRequest::Sequence(r) => {
                let sql = r
                    .sql
                    .or_else(|| r.sql_id.and_then(|id| stream.sqls.get(&id).cloned()))
                    .unwrap_or_default();
                stream
                    .conn
                    .execute_batch(&sql)
                    .await
                    .map(|_| StreamResponse::Sequence(SequenceStreamResp {}))
                    .map_err(|e| error(&e.to_string()))
            }
            StreamRequest::Describe(r) => {
                let sql = r
                    .sql
                    .or_else(|| r.sql_id.and_then(|id| stream.sqls.get(&id).cloned()))
                    .unwrap_or_default();
                describe(&stream.conn, &sql)
                    .await
                    .map(|result| StreamResponse::Describe(DescribeStreamResp { result }))
            }
            StreamRequest::StoreSql(r) => {
                stream.sqls.insert(r.sql_id, r.sql);
                Ok(StreamResponse::StoreSql(StoreSqlStreamResp {}))
            }
            StreamRequest::CloseSql(r) => {
                stream.sqls.remove(&r.sql_id);
                Ok(StreamResponse::CloseSql(CloseSqlStreamResp {}))
            }
            StreamRequest::GetAutocommit(_) => {
                Ok(StreamResponse::GetAutocommit(GetAutocommitStreamResp {
                    is_autocommit: stream.conn.is_autocommit(),
                }))
            }
        };
        results.push(match response {
            Ok(response) => StreamResult::Ok { response },
            Err(error) => StreamResult::Error { error },
        });
    }
    let baton = (!closed).then(|| put_stream(&state, stream));
    Json(PipelineRespBody {
        baton,
        base_url: None,
        results,
    })
    .into_response()
}

async fn cursor(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&state, &headers) {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let req: CursorReqBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let stream = match take_stream(&state, req.baton.as_deref()) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let mut lines = Vec::new();
    let mut outcomes: Vec<Option<bool>> = Vec::new();
    for (i, step) in req.batch.steps.iter().enumerate() {
        let run = step
            .condition
            .as_ref()
            .is_none_or(|c| eval_cond(c, &outcomes, &stream.conn));
        if !run {
            outcomes.push(None);
            continue;
        }
        match execute(&stream, &step.stmt).await {
            Ok(result) => {
                lines.push(json!({"type": "step_begin", "step": i, "cols": result.cols}));
                for row in &result.rows {
                    lines.push(json!({"type": "row", "row": row.values}));
                }
                lines.push(json!({
                    "type": "step_end",
                    "affected_row_count": result.affected_row_count,
                    "last_inserted_rowid": result.last_insert_rowid.map(|r| r.to_string()),
                }));
                outcomes.push(Some(true));
            }
            Err(e) => {
                lines.push(json!({"type": "step_error", "step": i, "error": e}));
                outcomes.push(Some(false));
            }
        }
    }
    let baton = put_stream(&state, stream);
    let mut text = serde_json::to_string(&CursorRespBody {
        baton: Some(baton),
        base_url: None,
    })
    .expect("json");
    text.push('\n');
    for line in lines {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    Response::new(Body::from(text))
}

async fn run_batch(stream: &Stream, batch: &proto::Batch) -> BatchResult {
    let mut result = BatchResult::default();
    let mut outcomes: Vec<Option<bool>> = Vec::new();
    for step in &batch.steps {
        let run = step
            .condition
            .as_ref()
            .is_none_or(|c| eval_cond(c, &outcomes, &stream.conn));
        if !run {
            result.step_results.push(None);
            result.step_errors.push(None);
            outcomes.push(None);
            continue;
        }
        match execute(stream, &step.stmt).await {
            Ok(r) => {
                result.step_results.push(Some(r));
                result.step_errors.push(None);
                outcomes.push(Some(true));
            }
            Err(e) => {
                result.step_results.push(None);
                result.step_errors.push(Some(e));
                outcomes.push(Some(false));
            }
        }
    }
    result
}

fn eval_cond(cond: &BatchCond, outcomes: &[Option<bool>], conn: &Connection) -> bool {
    let outcome = |step: u32| outcomes.get(step as usize).copied().flatten();
    match cond {
        BatchCond::None => true,
        BatchCond::Ok { step } => outcome(*step) == Some(true),
        BatchCond::Error { step } => outcome(*step) == Some(false),
        BatchCond::Not { cond } => !eval_cond(cond, outcomes, conn),
        BatchCond::And(list) => list.conds.iter().all(|c| eval_cond(c, outcomes, conn)),
        BatchCond::Or(list) => list.conds.iter().any(|c| eval_cond(c, outcomes, conn)),
        BatchCond::IsAutocommit {} => conn.is_autocommit(),
    }
}

async fn execute(stream: &Stream, stmt: &Stmt) -> Result<StmtResult, proto::Error> {
    let sql = stmt
        .sql
        .clone()
        .or_else(|| stmt.sql_id.and_then(|id| stream.sqls.get(&id).cloned()))
        .ok_or_else(|| error("statement has no SQL"))?;
    let params = if stmt.named_args.is_empty() {
        libsql::params::Params::Positional(stmt.args.iter().map(to_libsql).collect())
    } else {
        libsql::params::Params::Named(
            stmt.named_args
                .iter()
                .map(|a| (a.name.clone(), to_libsql(&a.value)))
                .collect(),
        )
    };
    let conn = &stream.conn;
    let before = conn.total_changes();
    let mut rows = conn
        .query(&sql, params)
        .await
        .map_err(|e| error(&e.to_string()))?;
    let count = rows.column_count();
    let cols = (0..count)
        .map(|i| Col {
            name: rows.column_name(i).map(str::to_owned),
            decltype: None,
        })
        .collect();
    let mut out_rows = Vec::new();
    while let Some(row) = rows.next().await.map_err(|e| error(&e.to_string()))? {
        let mut values = Vec::with_capacity(count as usize);
        for i in 0..count {
            values.push(from_libsql(
                row.get_value(i).map_err(|e| error(&e.to_string()))?,
            ));
        }
        out_rows.push(Row { values });
    }
    drop(rows);
    let affected = conn.total_changes().saturating_sub(before);
    Ok(StmtResult {
        cols: if stmt.want_rows == Some(false) {
            vec![]
        } else {
            cols
        },
        rows: if stmt.want_rows == Some(false) {
            vec![]
        } else {
            out_rows
        },
        affected_row_count: affected,
        last_insert_rowid: Some(conn.last_insert_rowid()),
        replication_index: None,
        rows_read: 0,
        rows_written: 0,
        query_duration_ms: 0.0,
    })
}

async fn describe(conn: &Connection, sql: &str) -> Result<DescribeResult, proto::Error> {
    let stmt = conn.prepare(sql).await.map_err(|e| error(&e.to_string()))?;
    let params = (1..=stmt.parameter_count() as i32)
        .map(|i| DescribeParam {
            name: stmt.parameter_name(i).map(str::to_owned),
        })
        .collect();
    let cols = stmt
        .columns()
        .iter()
        .map(|c| DescribeCol {
            name: c.name().to_owned(),
            decltype: c.decl_type().map(str::to_owned),
        })
        .collect();
    let upper = sql.trim_start().to_ascii_uppercase();
    Ok(DescribeResult {
        params,
        cols,
        is_explain: upper.starts_with("EXPLAIN"),
        is_readonly: upper.starts_with("SELECT") || upper.starts_with("WITH"),
    })
}

fn error(message: &str) -> proto::Error {
    proto::Error {
        message: message.to_owned(),
        code: "SQLITE_ERROR".to_owned(),
    }
}

fn to_libsql(v: &proto::Value) -> libsql::Value {
    match v {
        proto::Value::None | proto::Value::Null => libsql::Value::Null,
        proto::Value::Integer { value } => libsql::Value::Integer(*value),
        proto::Value::Float { value } => libsql::Value::Real(*value),
        proto::Value::Text { value } => libsql::Value::Text(value.to_string()),
        proto::Value::Blob { value } => libsql::Value::Blob(value.to_vec()),
    }
}

fn from_libsql(v: libsql::Value) -> proto::Value {
    match v {
        libsql::Value::Null => proto::Value::Null,
        libsql::Value::Integer(value) => proto::Value::Integer { value },
        libsql::Value::Real(value) => proto::Value::Float { value },
        libsql::Value::Text(value) => proto::Value::Text {
            value: value.into(),
        },
        libsql::Value::Blob(value) => proto::Value::Blob {
            value: Bytes::from(value),
        },
    }
}
