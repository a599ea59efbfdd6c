//! Real HTTP servers on 127.0.0.1 that stand in for BigQuery's REST API (with Google's OAuth
//! token endpoint) and Snowflake's SQL API v2. They check authentication for real (RS256 JWTs
//! verified against the test public key in `tests/fixtures/keys/`), answer in the services'
//! documented wire shapes, and record every request for the test to inspect.
//!
//! Neither fake parses SQL: a test registers canned answers, keyed by the exact query text
//! (`on_query` / `on_statement`) or queued for the next query whose text is not registered
//! (`on_next_query` / `on_next_statement`). A query with no canned answer fails like an unknown
//! table would, with a message saying so.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::receiver::{Log, Recorded, serve};

// ---------------------------------------------------------------------------------------------
// Keys and JWTs
// ---------------------------------------------------------------------------------------------

/// The test-only private key (PKCS#8 PEM) whose public key both fakes trust.
pub const TEST_KEY: &str = include_str!("../fixtures/keys/test-rsa-key.p8");
/// The public key (SubjectPublicKeyInfo PEM) of [`TEST_KEY`].
pub const TEST_PUBLIC_KEY: &str = include_str!("../fixtures/keys/test-rsa-key.pub");
/// An unrelated private key: JWTs signed with it must be refused.
pub const OTHER_KEY: &str = include_str!("../fixtures/keys/other-rsa-key.p8");

/// Path of a file in `tests/fixtures/keys/` (e.g. `"test-rsa-key.p8"`), for configs that take
/// a key file rather than its text.
pub fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

/// The DER bytes inside a PEM block.
fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    STANDARD.decode(b64).expect("PEM body is not base64")
}

/// One DER TLV: (tag, contents, rest).
fn der_tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let first = input[1] as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    (tag, &input[header..header + len], &input[header + len..])
}

/// A public key the fakes verify RS256 signatures with.
struct PublicKey {
    /// PKCS#1 `RSAPublicKey` DER, as ring wants it.
    pkcs1: Vec<u8>,
    /// Snowflake's `RSA_PUBLIC_KEY_FP`: `SHA256:` + base64(SHA-256(SPKI DER)).
    fingerprint: String,
}

impl PublicKey {
    fn from_spki_pem(pem: &str) -> Self {
        let spki = pem_der(pem);
        // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
        //                                     subjectPublicKey BIT STRING }
        let (tag, seq, _) = der_tlv(&spki);
        assert_eq!(tag, 0x30, "SPKI is not a SEQUENCE");
        let (_, _algorithm, rest) = der_tlv(seq);
        let (tag, bits, _) = der_tlv(rest);
        assert_eq!(tag, 0x03, "SPKI key is not a BIT STRING");
        assert_eq!(bits[0], 0, "SPKI BIT STRING has unused bits");
        Self {
            pkcs1: bits[1..].to_vec(),
            fingerprint: format!("SHA256:{}", STANDARD.encode(Sha256::digest(&spki))),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.pkcs1,
        )
        .verify(message, signature)
        .is_ok()
    }
}

/// Snowflake's fingerprint of a public key (SPKI PEM): `SHA256:<base64 of SHA-256 of the DER>`,
/// exactly what `DESC USER` shows as `RSA_PUBLIC_KEY_FP`.
pub fn snowflake_fingerprint(public_key_pem: &str) -> String {
    PublicKey::from_spki_pem(public_key_pem).fingerprint
}

/// Signs `claims` with `header` as an RS256 JWT (the header should say `"alg": "RS256"`).
pub fn sign_jwt(private_key_pem: &str, header: &Value, claims: &Value) -> String {
    let der = pem_der(private_key_pem);
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("an RSA PKCS#8 key");
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("RSA signing");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Signs `claims` as an RS256 JWT with the header `{"alg":"RS256","typ":"JWT"}`.
pub fn sign_rs256(private_key_pem: &str, claims: &Value) -> String {
    sign_jwt(
        private_key_pem,
        &json!({"alg": "RS256", "typ": "JWT"}),
        claims,
    )
}

/// A Google service-account assertion, as a correct client makes it (iat now, exp in an hour).
pub fn google_assertion(private_key_pem: &str, client_email: &str, token_uri: &str) -> String {
    let now = Utc::now().timestamp();
    sign_jwt(
        private_key_pem,
        &json!({"alg": "RS256", "typ": "JWT", "kid": "kid1"}),
        &json!({
            "iss": client_email,
            "scope": "https://www.googleapis.com/auth/bigquery",
            "aud": token_uri,
            "iat": now,
            "exp": now + 3600,
        }),
    )
}

/// A Snowflake key-pair JWT, as a correct client makes it (iat now, exp in an hour).
/// `fingerprint` is the `SHA256:…` string.
pub fn snowflake_jwt(
    private_key_pem: &str,
    account: &str,
    user: &str,
    fingerprint: &str,
) -> String {
    let now = Utc::now().timestamp();
    sign_rs256(
        private_key_pem,
        &json!({
            "iss": format!("{account}.{user}.{fingerprint}"),
            "sub": format!("{account}.{user}"),
            "iat": now,
            "exp": now + 3600,
        }),
    )
}

fn decode_part(part: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("not unpadded base64url: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))
}

/// Checks the shape, `alg` and RS256 signature of a JWT; its header and claims.
fn verify_rs256(token: &str, key: &PublicKey) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err(format!(
            "not a JWT: {} dot-separated parts, expected 3",
            parts.len()
        ));
    };
    let header = decode_part(h).map_err(|e| format!("JWT header {e}"))?;
    if header["alg"] != "RS256" {
        return Err(format!("JWT alg must be RS256, got {}", header["alg"]));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| format!("JWT signature is not unpadded base64url: {e}"))?;
    if !key.verify(format!("{h}.{c}").as_bytes(), &signature) {
        return Err("JWT signature does not verify with the registered public key".into());
    }
    let claims = decode_part(c).map_err(|e| format!("JWT claims {e}"))?;
    Ok((header, claims))
}

/// `iat` and `exp` present as integers, `exp` in the future, at most `max_life` seconds after
/// `iat`, and `iat` not more than five minutes ahead of the clock.
fn check_times(claims: &Value, max_life: i64) -> Result<(), String> {
    let now = Utc::now().timestamp();
    let iat = claims["iat"]
        .as_i64()
        .ok_or("claim iat missing or not an integer")?;
    let exp = claims["exp"]
        .as_i64()
        .ok_or("claim exp missing or not an integer")?;
    if exp <= now {
        return Err(format!("JWT expired (exp {exp}, now {now})"));
    }
    if exp <= iat {
        return Err(format!("exp {exp} is not after iat {iat}"));
    }
    if exp - iat > max_life {
        return Err(format!(
            "exp - iat is {} s, more than {max_life} s",
            exp - iat
        ));
    }
    if iat > now + 300 {
        return Err(format!("iat {iat} is in the future (now {now})"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Canned results
// ---------------------------------------------------------------------------------------------

/// A column of a canned result. `ty` is the service's type name, upper-cased, without
/// parameters; `NUMBER(38,2)` given to [`Column::new`] becomes `NUMBER` with precision 38 and
/// scale 2.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: String,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

impl Column {
    pub fn new(name: &str, ty: &str) -> Self {
        let (base, params) = match ty.split_once('(') {
            Some((b, p)) => (b.trim(), p.trim_end_matches(')')),
            None => (ty.trim(), ""),
        };
        let mut nums = params
            .split(',')
            .filter_map(|p| p.trim().parse::<u32>().ok());
        let precision = nums.next();
        let scale = nums.next();
        Self {
            name: name.to_owned(),
            ty: base.to_ascii_uppercase(),
            precision,
            scale,
        }
    }

    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = Some(scale);
        self
    }
}

/// A typed cell; each fake encodes it as its service does for the column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    /// Decimal text sent as is (NUMERIC, Snowflake FIXED with scale): "1.50".
    Decimal(String),
    Bool(bool),
    Text(String),
    /// An instant (BigQuery TIMESTAMP, Snowflake TIMESTAMP_LTZ / _TZ at UTC).
    Timestamp(DateTime<Utc>),
    /// An instant with an offset (Snowflake TIMESTAMP_TZ).
    TimestampTz(DateTime<FixedOffset>),
    /// A wall-clock time (BigQuery DATETIME, Snowflake TIMESTAMP_NTZ).
    DateTime(NaiveDateTime),
    Date(NaiveDate),
    /// Exactly this JSON on the wire, whatever the column type.
    Raw(Value),
}

impl Cell {
    pub fn decimal(text: &str) -> Self {
        Cell::Decimal(text.to_owned())
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<i32> for Cell {
    fn from(v: i32) -> Self {
        Cell::Int(v.into())
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Self {
        Cell::Bool(v)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_owned())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}
impl From<DateTime<Utc>> for Cell {
    fn from(v: DateTime<Utc>) -> Self {
        Cell::Timestamp(v)
    }
}
impl From<DateTime<FixedOffset>> for Cell {
    fn from(v: DateTime<FixedOffset>) -> Self {
        Cell::TimestampTz(v)
    }
}
impl From<NaiveDateTime> for Cell {
    fn from(v: NaiveDateTime) -> Self {
        Cell::DateTime(v)
    }
}
impl From<NaiveDate> for Cell {
    fn from(v: NaiveDate) -> Self {
        Cell::Date(v)
    }
}
impl From<Value> for Cell {
    fn from(v: Value) -> Self {
        Cell::Raw(v)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Null, Into::into)
    }
}

/// A canned result: columns and typed rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// Columns as `(name, type)`: BigQuery types (`STRING`, `INTEGER`/`INT64`, `FLOAT`/`FLOAT64`,
    /// `NUMERIC`, `BIGNUMERIC`, `BOOLEAN`, `TIMESTAMP`, `DATETIME`, `DATE`) for the BigQuery
    /// fake; Snowflake types (`FIXED`/`NUMBER(p,s)`, `REAL`/`FLOAT`, `TEXT`/`VARCHAR`,
    /// `BOOLEAN`, `DATE`, `TIMESTAMP_NTZ`, `TIMESTAMP_LTZ`, `TIMESTAMP_TZ`) for Snowflake's.
    pub fn new(columns: &[(&str, &str)]) -> Self {
        Self {
            columns: columns.iter().map(|(n, t)| Column::new(n, t)).collect(),
            rows: Vec::new(),
        }
    }

    pub fn with_columns(columns: Vec<Column>) -> Self {
        Self {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row; panics if its width differs from the columns'.
    pub fn row<C: Into<Cell>>(mut self, cells: impl IntoIterator<Item = C>) -> Self {
        self.push(cells);
        self
    }

    pub fn push<C: Into<Cell>>(&mut self, cells: impl IntoIterator<Item = C>) {
        let row: Vec<Cell> = cells.into_iter().map(Into::into).collect();
        assert_eq!(
            row.len(),
            self.columns.len(),
            "canned row width differs from the columns"
        );
        self.rows.push(row);
    }
}

fn display_cell(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Int(i) => i.to_string().into(),
        Cell::Float(f) => f.to_string().into(),
        Cell::Decimal(s) | Cell::Text(s) => s.clone().into(),
        Cell::Bool(b) => b.to_string().into(),
        Cell::Timestamp(t) => t.to_rfc3339().into(),
        Cell::TimestampTz(t) => t.to_rfc3339().into(),
        Cell::DateTime(t) => t.to_string().into(),
        Cell::Date(d) => d.to_string().into(),
        Cell::Raw(v) => v.clone(),
    }
}

fn as_instant(cell: &Cell) -> Option<DateTime<Utc>> {
    match cell {
        Cell::Timestamp(t) => Some(*t),
        Cell::TimestampTz(t) => Some(t.with_timezone(&Utc)),
        Cell::DateTime(t) => Some(t.and_utc()),
        Cell::Date(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc()),
        _ => None,
    }
}

fn as_wall_clock(cell: &Cell) -> Option<NaiveDateTime> {
    match cell {
        Cell::DateTime(t) => Some(*t),
        Cell::Timestamp(t) => Some(t.naive_utc()),
        Cell::TimestampTz(t) => Some(t.naive_local()),
        Cell::Date(d) => d.and_hms_opt(0, 0, 0),
        _ => None,
    }
}

/// A double as Java's `Double.toString` writes it, which is how BigQuery's REST API renders
/// FLOAT64 values: `1.5`, `100.0`, `1.7E9`, `1.0E-5`.
fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = f.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        return format!("{f:?}");
    }
    let s = format!("{f:E}");
    let (mantissa, exponent) = s.split_once('E').expect("exponent");
    if mantissa.contains('.') {
        s
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

// ---------------------------------------------------------------------------------------------
// Shared server plumbing
// ---------------------------------------------------------------------------------------------

fn record(log: &Log, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    log.0.lock().unwrap().push(Recorded {
        path: uri.to_string(),
        headers: headers.clone(),
        body: body.clone(),
    });
}

fn reply(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        axum::Json(body),
    )
        .into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    header(headers, "authorization")?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// A count from JSON that may be a number or a numeric string (the APIs accept both).
fn json_usize(v: &Value) -> Option<usize> {
    v.as_u64()
        .map(|n| n as usize)
        .or_else(|| v.as_str()?.parse().ok())
}

/// Finds the canned answer for `text`: the keyed one, else the next queued one.
fn take_answer<A: Clone>(
    keyed: &HashMap<String, A>,
    queue: &mut VecDeque<A>,
    text: &str,
) -> Option<A> {
    keyed
        .get(text)
        .or_else(|| keyed.get(text.trim()))
        .cloned()
        .or_else(|| queue.pop_front())
}

// ---------------------------------------------------------------------------------------------
// Fake BigQuery
// ---------------------------------------------------------------------------------------------

pub const BQ_PROJECT: &str = "test-project";
pub const BQ_CLIENT_EMAIL: &str = "sa@test-project.iam.gserviceaccount.com";
pub const BQ_SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

/// Server-wide settings of the fake BigQuery.
#[derive(Debug, Clone, Default)]
pub struct BigQueryOpts {
    /// Rows per page for answers that do not set their own; `None`: all rows in one page.
    pub page_size: Option<usize>,
    /// The public key (SPKI PEM) assertions must verify with; default [`TEST_PUBLIC_KEY`].
    pub public_key_pem: Option<String>,
    /// `expires_in` of issued access tokens, and when the fake stops accepting them;
    /// default 3600 s.
    pub token_lifetime_secs: Option<i64>,
}

/// How the fake answers one query.
#[derive(Debug, Clone, Default)]
pub struct BqAnswer {
    pub table: Table,
    /// Rows per page, overriding [`BigQueryOpts::page_size`]; the request's `maxResults` caps it.
    pub page_size: Option<usize>,
    /// Responses that say `jobComplete: false` before the job completes, counting the first
    /// `jobs.query` answer.
    pub pending_polls: u32,
    /// The job fails with this message (400 `invalidQuery`), at submission or, with
    /// `pending_polls`, at the poll after the pending ones.
    pub fail_with: Option<String>,
    /// Never completes: every answer says `jobComplete: false`.
    pub never_complete: bool,
    /// Waited before every answer about this job.
    pub delay: Duration,
}

impl BqAnswer {
    pub fn rows(table: Table) -> Self {
        Self {
            table,
            ..Self::default()
        }
    }

    pub fn failing(message: &str) -> Self {
        Self {
            fail_with: Some(message.to_owned()),
            ..Self::default()
        }
    }

    pub fn pending(forever: bool) -> Self {
        Self {
            never_complete: forever,
            ..Self::default()
        }
    }

    pub fn page_size(mut self, rows: usize) -> Self {
        self.page_size = Some(rows);
        self
    }

    pub fn pending_polls(mut self, n: u32) -> Self {
        self.pending_polls = n;
        self
    }

    pub fn fail_with(mut self, message: &str) -> Self {
        self.fail_with = Some(message.to_owned());
        self
    }

    pub fn never_complete(mut self) -> Self {
        self.never_complete = true;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct BqJob {
    answer: BqAnswer,
    polls_left: u32,
    location: String,
    cancelled: bool,
}

#[derive(Default)]
struct BqInner {
    keyed: HashMap<String, BqAnswer>,
    queue: VecDeque<BqAnswer>,
    jobs: HashMap<String, BqJob>,
    /// Issued access tokens and when they expire (Unix seconds).
    tokens: HashMap<String, i64>,
    issued: usize,
    token_requests: usize,
    query_requests: usize,
    get_results_requests: usize,
    cancel_requests: usize,
    query_bodies: Vec<Value>,
    page_tokens: Vec<String>,
    cancelled: Vec<String>,
    accepted_claims: Vec<Value>,
    rejections: Vec<String>,
    next_job: u64,
}

#[derive(Clone)]
struct BqState {
    log: Log,
    inner: Arc<Mutex<BqInner>>,
    key: Arc<PublicKey>,
    opts: Arc<BigQueryOpts>,
    base: Arc<Mutex<String>>,
}

/// BigQuery's REST API (`jobs.query`, `jobs.getQueryResults`, `jobs.cancel`) and Google's OAuth
/// token endpoint for service accounts.
pub struct FakeBigQuery {
    base: String,
    state: BqState,
}

impl FakeBigQuery {
    pub async fn start(opts: BigQueryOpts) -> Self {
        let key =
            PublicKey::from_spki_pem(opts.public_key_pem.as_deref().unwrap_or(TEST_PUBLIC_KEY));
        let state = BqState {
            log: Log::default(),
            inner: Arc::default(),
            key: Arc::new(key),
            opts: Arc::new(opts),
            base: Arc::default(),
        };
        let router = Router::new()
            .route("/token", post(bq_token))
            .route("/bigquery/v2/projects/{project}/queries", post(bq_query))
            .route(
                "/bigquery/v2/projects/{project}/queries/{job}",
                get(bq_get_results),
            )
            .route(
                "/bigquery/v2/projects/{project}/jobs/{job}/cancel",
                post(bq_cancel),
            )
            .fallback(bq_unknown)
            .with_state(state.clone());
        let base = serve(router).await;
        *state.base.lock().unwrap() = base.clone();
        Self { base, state }
    }

    /// The API root: the client calls `{url}/bigquery/v2/...`.
    pub fn url(&self) -> String {
        self.base.clone()
    }

    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base)
    }

    pub fn project(&self) -> &'static str {
        BQ_PROJECT
    }

    pub fn client_email(&self) -> &'static str {
        BQ_CLIENT_EMAIL
    }

    /// A service-account key file for `private_key_pem` whose `token_uri` is this fake's.
    pub fn credentials_json(&self, private_key_pem: &str) -> String {
        serde_json::to_string_pretty(&json!({
            "type": "service_account",
            "project_id": BQ_PROJECT,
            "private_key_id": "kid1",
            "private_key": private_key_pem,
            "client_email": BQ_CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri(),
        }))
        .unwrap()
    }

    /// Answers every query whose text is exactly `sql` (surrounding whitespace ignored).
    pub fn on_query(&self, sql: &str, answer: BqAnswer) {
        self.inner().keyed.insert(sql.trim().to_owned(), answer);
    }

    /// Answers the next query whose text has no answer of its own (first in, first out).
    pub fn on_next_query(&self, answer: BqAnswer) {
        self.inner().queue.push_back(answer);
    }

    /// Forgets the issued access tokens: requests bearing them get 401 from now on.
    pub fn revoke_tokens(&self) {
        self.inner().tokens.clear();
    }

    /// Every request, in order; `path` holds the path and query string.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log.all()
    }

    /// Requests to `/token`, accepted or not.
    pub fn token_requests(&self) -> usize {
        self.inner().token_requests
    }

    /// Access tokens issued.
    pub fn tokens_issued(&self) -> usize {
        self.inner().issued
    }

    /// `jobs.query` requests, authorised or not.
    pub fn query_requests(&self) -> usize {
        self.inner().query_requests
    }

    /// `jobs.getQueryResults` requests, authorised or not.
    pub fn get_results_requests(&self) -> usize {
        self.inner().get_results_requests
    }

    pub fn cancel_requests(&self) -> usize {
        self.inner().cancel_requests
    }

    /// The JSON bodies of authorised `jobs.query` requests.
    pub fn query_bodies(&self) -> Vec<Value> {
        self.inner().query_bodies.clone()
    }

    /// The `pageToken`s of `jobs.getQueryResults` requests, in order.
    pub fn page_tokens(&self) -> Vec<String> {
        self.inner().page_tokens.clone()
    }

    /// Job ids cancelled through `jobs.cancel`.
    pub fn cancelled_jobs(&self) -> Vec<String> {
        self.inner().cancelled.clone()
    }

    /// Claims of the assertions the token endpoint accepted.
    pub fn accepted_claims(&self) -> Vec<Value> {
        self.inner().accepted_claims.clone()
    }

    /// Why assertions or bearer tokens were refused, in order.
    pub fn rejections(&self) -> Vec<String> {
        self.inner().rejections.clone()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, BqInner> {
        self.state.inner.lock().unwrap()
    }
}

fn bq_error(code: u16, status: &str, reason: &str, message: &str) -> Response {
    reply(
        code,
        json!({"error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }}),
    )
}

fn token_error(error: &str, description: &str) -> Response {
    reply(
        400,
        json!({"error": error, "error_description": description}),
    )
}

async fn bq_token(State(s): State<BqState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    record(&s.log, &uri, &headers, &body);
    s.inner.lock().unwrap().token_requests += 1;
    let token_uri = format!("{}/token", s.base.lock().unwrap());
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let refuse = |error: &str, description: &str, why: String| {
        s.inner.lock().unwrap().rejections.push(why);
        token_error(error, description)
    };
    if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return refuse(
            "unsupported_grant_type",
            "Invalid grant_type: ",
            format!("grant_type {:?}", field("grant_type")),
        );
    }
    let Some(assertion) = field("assertion") else {
        return refuse(
            "invalid_request",
            "Missing required parameter: assertion",
            "no assertion".into(),
        );
    };
    let (header, claims) = match verify_rs256(&assertion, &s.key) {
        Ok(v) => v,
        Err(why) => return refuse("invalid_grant", "Invalid JWT Signature.", why),
    };
    if header["typ"] != "JWT" {
        return refuse(
            "invalid_grant",
            "Invalid JWT Signature.",
            format!("typ must be JWT, got {}", header["typ"]),
        );
    }
    if !header["kid"].is_null() && header["kid"] != "kid1" {
        return refuse(
            "invalid_grant",
            "Invalid JWT Signature.",
            format!("kid {} is not the key's private_key_id kid1", header["kid"]),
        );
    }
    if claims["iss"] != BQ_CLIENT_EMAIL {
        return refuse(
            "invalid_grant",
            "Invalid grant: account not found",
            format!("iss {} is not {BQ_CLIENT_EMAIL}", claims["iss"]),
        );
    }
    if claims["aud"] != token_uri.as_str() {
        return refuse(
            "invalid_grant",
            "Invalid JWT: Failed audience check.",
            format!("aud {} is not {token_uri}", claims["aud"]),
        );
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes.split(' ').any(|sc| sc == BQ_SCOPE) {
        return refuse(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
            format!("scope {} lacks {BQ_SCOPE}", claims["scope"]),
        );
    }
    if let Err(why) = check_times(&claims, 3600) {
        return refuse(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values in the JWT claim.",
            why,
        );
    }
    let lifetime = s.opts.token_lifetime_secs.unwrap_or(3600);
    let mut inner = s.inner.lock().unwrap();
    inner.issued += 1;
    let token = format!("ya29.fake-{}", inner.issued);
    inner
        .tokens
        .insert(token.clone(), Utc::now().timestamp() + lifetime);
    inner.accepted_claims.push(claims);
    reply(
        200,
        json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}),
    )
}

/// A 401 answer unless the request bears a live token from `/token`.
fn bq_authorize(s: &BqState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = bearer(headers) else {
        s.inner
            .lock()
            .unwrap()
            .rejections
            .push("no bearer token".into());
        return Some(bq_error(
            401,
            "UNAUTHENTICATED",
            "required",
            "Request is missing required authentication credential. Expected OAuth 2 access \
             token, login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
        ));
    };
    let mut inner = s.inner.lock().unwrap();
    match inner.tokens.get(&token) {
        Some(expiry) if *expiry > Utc::now().timestamp() => None,
        _ => {
            inner
                .rejections
                .push(format!("bearer {token} not issued, expired or revoked"));
            Some(bq_error(
                401,
                "UNAUTHENTICATED",
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access \
                 token, login cookie or other valid authentication credential. See \
                 https://developers.google.com/identity/sign-in/web/devconsole-project.",
            ))
        }
    }
}

fn bq_check_project(project: &str) -> Option<Response> {
    if project == BQ_PROJECT {
        None
    } else {
        Some(bq_error(
            404,
            "NOT_FOUND",
            "notFound",
            &format!("Not found: Project {project}"),
        ))
    }
}

fn bq_job_reference(project: &str, job_id: &str, location: &str) -> Value {
    json!({"projectId": project, "jobId": job_id, "location": location})
}

fn bq_pending(kind: &str, job_id: &str, location: &str) -> Response {
    reply(
        200,
        json!({
            "kind": kind,
            "jobReference": bq_job_reference(BQ_PROJECT, job_id, location),
            "jobComplete": false,
        }),
    )
}

fn bq_query_failed(message: &str) -> Response {
    bq_error(400, "INVALID_ARGUMENT", "invalidQuery", message)
}

fn bq_page_token(job_id: &str, offset: usize) -> String {
    STANDARD.encode(format!("{job_id}:{offset}"))
}

fn bq_encode(column: &Column, cell: &Cell, int64_timestamps: bool) -> Value {
    match (column.ty.as_str(), cell) {
        (_, Cell::Null) => Value::Null,
        (_, Cell::Raw(v)) => v.clone(),
        ("INTEGER" | "INT64", Cell::Float(f)) => (*f as i64).to_string().into(),
        ("FLOAT" | "FLOAT64", Cell::Float(f)) => java_double(*f).into(),
        ("FLOAT" | "FLOAT64", Cell::Int(i)) => java_double(*i as f64).into(),
        ("BOOLEAN" | "BOOL", Cell::Bool(b)) => b.to_string().into(),
        ("TIMESTAMP", c) if as_instant(c).is_some() => {
            let micros = as_instant(c).unwrap().timestamp_micros();
            if int64_timestamps {
                micros.to_string().into()
            } else {
                java_double(micros as f64 / 1e6).into()
            }
        }
        ("DATETIME", c) if as_wall_clock(c).is_some() => {
            let t = as_wall_clock(c).unwrap();
            let micros = t.nanosecond() / 1000;
            if micros == 0 {
                t.format("%Y-%m-%dT%H:%M:%S").to_string().into()
            } else {
                format!("{}.{micros:06}", t.format("%Y-%m-%dT%H:%M:%S")).into()
            }
        }
        ("DATE", c) if as_wall_clock(c).is_some() => {
            as_wall_clock(c).unwrap().date().to_string().into()
        }
        (_, c) => display_cell(c),
    }
}

/// A complete page: rows `[offset, offset + limit)`.
fn bq_complete(
    kind: &str,
    job_id: &str,
    job: &BqJob,
    offset: usize,
    limit: usize,
    int64_timestamps: bool,
) -> Response {
    let table = &job.answer.table;
    let total = table.rows.len();
    let start = offset.min(total);
    let end = start.saturating_add(limit).min(total);
    let mut body = json!({
        "kind": kind,
        "schema": {"fields": table.columns.iter().map(|c| json!({
            "name": c.name, "type": c.ty, "mode": "NULLABLE",
        })).collect::<Vec<_>>()},
        "jobReference": bq_job_reference(BQ_PROJECT, job_id, &job.location),
        "totalRows": total.to_string(),
        "jobComplete": true,
        "cacheHit": false,
    });
    // Like the real API, an empty page has no "rows" at all.
    if end > start {
        body["rows"] = table.rows[start..end]
            .iter()
            .map(|row| {
                let cells: Vec<Value> = table
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| json!({"v": bq_encode(c, v, int64_timestamps)}))
                    .collect();
                json!({"f": cells})
            })
            .collect();
    }
    if end < total {
        body["pageToken"] = bq_page_token(job_id, end).into();
    }
    reply(200, body)
}

/// What to say about a job now.
enum BqStep {
    Pending,
    Failed(String),
    Cancelled,
    Complete,
}

fn bq_step(job: &mut BqJob) -> BqStep {
    if job.cancelled {
        return BqStep::Cancelled;
    }
    if job.answer.never_complete {
        return BqStep::Pending;
    }
    if job.polls_left > 0 {
        job.polls_left -= 1;
        return BqStep::Pending;
    }
    match &job.answer.fail_with {
        Some(message) => BqStep::Failed(message.clone()),
        None => BqStep::Complete,
    }
}

fn bq_limit(job: &BqJob, opts: &BigQueryOpts, max_results: Option<usize>) -> usize {
    let page = job
        .answer
        .page_size
        .or(opts.page_size)
        .unwrap_or(usize::MAX);
    max_results.map_or(page, |m| m.min(page))
}

async fn bq_query(
    State(s): State<BqState>,
    Path(project): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s.log, &uri, &headers, &body);
    s.inner.lock().unwrap().query_requests += 1;
    if let Some(r) = bq_authorize(&s, &headers) {
        return r;
    }
    if let Some(r) = bq_check_project(&project) {
        return r;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bq_error(
            400,
            "INVALID_ARGUMENT",
            "invalid",
            "Invalid JSON payload received.",
        );
    };
    let query = request["query"].as_str().unwrap_or_default().to_owned();
    let int64_timestamps = request["formatOptions"]["useInt64Timestamp"] == true;
    let max_results = json_usize(&request["maxResults"]);
    let location = request["location"].as_str().unwrap_or("US").to_owned();
    let (job_id, answer) = {
        let mut inner = s.inner.lock().unwrap();
        inner.query_bodies.push(request.clone());
        if request["useLegacySql"] != false {
            return bq_query_failed(
                "The fake BigQuery runs standard SQL only: send \"useLegacySql\": false \
                 (jobs.query defaults to legacy SQL).",
            );
        }
        if query.is_empty() {
            return bq_error(
                400,
                "INVALID_ARGUMENT",
                "required",
                "Required parameter is missing: query",
            );
        }
        let BqInner { keyed, queue, .. } = &mut *inner;
        let Some(answer) = take_answer(keyed, queue, &query) else {
            return bq_query_failed(&format!(
                "Not found: Table {BQ_PROJECT}:fake (the fake BigQuery has no canned answer \
                 for the query {query:?})"
            ));
        };
        inner.next_job += 1;
        let job_id = format!("job_fake{:04}", inner.next_job);
        inner.jobs.insert(
            job_id.clone(),
            BqJob {
                polls_left: answer.pending_polls,
                answer: answer.clone(),
                location: location.clone(),
                cancelled: false,
            },
        );
        (job_id, answer)
    };
    tokio::time::sleep(answer.delay).await;
    let kind = "bigquery#queryResponse";
    let mut inner = s.inner.lock().unwrap();
    let job = inner.jobs.get_mut(&job_id).unwrap();
    match bq_step(job) {
        BqStep::Pending => bq_pending(kind, &job_id, &location),
        BqStep::Failed(message) => bq_query_failed(&message),
        BqStep::Cancelled => bq_cancelled_error(),
        BqStep::Complete => {
            let limit = bq_limit(job, &s.opts, max_results);
            bq_complete(kind, &job_id, job, 0, limit, int64_timestamps)
        }
    }
}

fn bq_cancelled_error() -> Response {
    bq_error(
        400,
        "INVALID_ARGUMENT",
        "stopped",
        "Job execution was cancelled: User requested cancellation",
    )
}

fn bq_job_not_found(job_id: &str) -> Response {
    bq_error(
        404,
        "NOT_FOUND",
        "notFound",
        &format!("Not found: Job {BQ_PROJECT}:{job_id}"),
    )
}

/// Jobs outside the US and EU multi-regions are found only with their location.
fn bq_location_matches(job: &BqJob, location: Option<&String>) -> bool {
    let multi = ["US", "EU"].contains(&job.location.to_ascii_uppercase().as_str());
    match location {
        Some(l) => l.eq_ignore_ascii_case(&job.location),
        None => multi,
    }
}

async fn bq_get_results(
    State(s): State<BqState>,
    Path((project, job_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&s.log, &uri, &headers, &Bytes::new());
    s.inner.lock().unwrap().get_results_requests += 1;
    if let Some(r) = bq_authorize(&s, &headers) {
        return r;
    }
    if let Some(r) = bq_check_project(&project) {
        return r;
    }
    let int64_timestamps = params
        .get("formatOptions.useInt64Timestamp")
        .is_some_and(|v| v == "true");
    let max_results = params.get("maxResults").and_then(|v| v.parse().ok());
    let page_token = params.get("pageToken").cloned();
    let delay = {
        let mut inner = s.inner.lock().unwrap();
        if let Some(t) = &page_token {
            inner.page_tokens.push(t.clone());
        }
        match inner.jobs.get(&job_id) {
            Some(job) if bq_location_matches(job, params.get("location")) => job.answer.delay,
            _ => return bq_job_not_found(&job_id),
        }
    };
    tokio::time::sleep(delay).await;
    let kind = "bigquery#getQueryResultsResponse";
    let mut inner = s.inner.lock().unwrap();
    let job = inner.jobs.get_mut(&job_id).unwrap();
    match bq_step(job) {
        BqStep::Pending => bq_pending(kind, &job_id, &job.location.clone()),
        BqStep::Failed(message) => bq_query_failed(&message),
        BqStep::Cancelled => bq_cancelled_error(),
        BqStep::Complete => {
            let offset = match &page_token {
                None => 0,
                Some(t) => {
                    let decoded = STANDARD
                        .decode(t)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .and_then(|t| {
                            let (j, o) = t.rsplit_once(':')?;
                            (j == job_id).then(|| o.parse::<usize>().ok())?
                        });
                    match decoded {
                        Some(o) if o <= job.answer.table.rows.len() => o,
                        _ => {
                            return bq_error(
                                400,
                                "INVALID_ARGUMENT",
                                "invalid",
                                &format!("Invalid page token: {t:?}"),
                            );
                        }
                    }
                }
            };
            let limit = bq_limit(job, &s.opts, max_results);
            bq_complete(kind, &job_id, job, offset, limit, int64_timestamps)
        }
    }
}

async fn bq_cancel(
    State(s): State<BqState>,
    Path((project, job_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s.log, &uri, &headers, &body);
    s.inner.lock().unwrap().cancel_requests += 1;
    if let Some(r) = bq_authorize(&s, &headers) {
        return r;
    }
    if let Some(r) = bq_check_project(&project) {
        return r;
    }
    let mut inner = s.inner.lock().unwrap();
    let Some(job) = inner.jobs.get_mut(&job_id) else {
        return bq_job_not_found(&job_id);
    };
    if !bq_location_matches(job, params.get("location")) {
        return bq_job_not_found(&job_id);
    }
    let done = !job.answer.never_complete && job.polls_left == 0;
    job.cancelled = true;
    let location = job.location.clone();
    inner.cancelled.push(job_id.clone());
    reply(
        200,
        json!({
            "kind": "bigquery#jobCancelResponse",
            "job": {
                "kind": "bigquery#job",
                "id": format!("{BQ_PROJECT}:{location}.{job_id}"),
                "jobReference": bq_job_reference(BQ_PROJECT, &job_id, &location),
                "status": {"state": if done { "DONE" } else { "RUNNING" }},
            },
        }),
    )
}

async fn bq_unknown(
    State(s): State<BqState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s.log, &uri, &headers, &body);
    bq_error(
        404,
        "NOT_FOUND",
        "notFound",
        &format!("The fake BigQuery has no endpoint {uri}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Fake Snowflake SQL API v2
// ---------------------------------------------------------------------------------------------

pub const SF_ACCOUNT: &str = "TESTACCT";
pub const SF_USER: &str = "ANOMSTACK";

/// Server-wide settings of the fake Snowflake.
#[derive(Debug, Clone, Default)]
pub struct SnowflakeOpts {
    /// Rows per partition for answers that do not set their own; `None`: one partition.
    pub partition_size: Option<usize>,
    /// A bearer accepted with `X-Snowflake-Authorization-Token-Type: PROGRAMMATIC_ACCESS_TOKEN`
    /// or `OAUTH` (or with no token-type header, which Snowflake reads as OAuth).
    pub accept_token: Option<String>,
    /// The registered public key (SPKI PEM); default [`TEST_PUBLIC_KEY`].
    pub public_key_pem: Option<String>,
}

/// How the fake answers one statement.
#[derive(Debug, Clone, Default)]
pub struct SfAnswer {
    pub table: Table,
    /// Rows per partition, overriding [`SnowflakeOpts::partition_size`].
    pub partition_size: Option<usize>,
    /// 202 answers before the result, counting the submission's.
    pub pending_polls: u32,
    /// `(code, message)`: the statement fails with 422, at submission or, with
    /// `pending_polls`, at the poll after the pending ones.
    pub fail_with: Option<(String, String)>,
    /// Never completes: every answer is 202.
    pub never_complete: bool,
    /// Waited before every answer about this statement.
    pub delay: Duration,
}

impl SfAnswer {
    pub fn rows(table: Table) -> Self {
        Self {
            table,
            ..Self::default()
        }
    }

    pub fn failing(code: &str, message: &str) -> Self {
        Self {
            fail_with: Some((code.to_owned(), message.to_owned())),
            ..Self::default()
        }
    }

    /// Snowflake's error for a missing table: 002003 "Object 'X' does not exist or not
    /// authorized."
    pub fn missing_object(object: &str) -> Self {
        Self::failing(
            "002003",
            &format!("SQL compilation error:\nObject '{object}' does not exist or not authorized."),
        )
    }

    pub fn partition_size(mut self, rows: usize) -> Self {
        self.partition_size = Some(rows);
        self
    }

    pub fn pending_polls(mut self, n: u32) -> Self {
        self.pending_polls = n;
        self
    }

    pub fn fail_with(mut self, code: &str, message: &str) -> Self {
        self.fail_with = Some((code.to_owned(), message.to_owned()));
        self
    }

    pub fn never_complete(mut self) -> Self {
        self.never_complete = true;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct SfStatement {
    answer: SfAnswer,
    polls_left: u32,
    request_id: Option<String>,
    created_on: i64,
    cancelled: bool,
}

#[derive(Default)]
struct SfInner {
    keyed: HashMap<String, SfAnswer>,
    queue: VecDeque<SfAnswer>,
    statements: HashMap<String, SfStatement>,
    by_request_id: HashMap<String, String>,
    submit_requests: usize,
    submissions: Vec<Value>,
    submit_params: Vec<HashMap<String, String>>,
    status_requests: Vec<(String, Option<usize>)>,
    cancelled: Vec<String>,
    accepted_claims: Vec<Value>,
    auth_failures: Vec<String>,
    next_handle: u64,
}

#[derive(Clone)]
struct SfState {
    log: Log,
    inner: Arc<Mutex<SfInner>>,
    key: Arc<PublicKey>,
    opts: Arc<SnowflakeOpts>,
}

/// Snowflake's SQL API v2: submit, status / partitions, cancel.
pub struct FakeSnowflake {
    base: String,
    state: SfState,
}

impl FakeSnowflake {
    pub async fn start(opts: SnowflakeOpts) -> Self {
        let key =
            PublicKey::from_spki_pem(opts.public_key_pem.as_deref().unwrap_or(TEST_PUBLIC_KEY));
        let state = SfState {
            log: Log::default(),
            inner: Arc::default(),
            key: Arc::new(key),
            opts: Arc::new(opts),
        };
        let router = Router::new()
            .route("/api/v2/statements", post(sf_submit))
            .route("/api/v2/statements/{handle}", get(sf_status))
            .route("/api/v2/statements/{handle}/cancel", post(sf_cancel))
            .fallback(sf_unknown)
            .with_state(state.clone());
        let base = serve(router).await;
        Self { base, state }
    }

    /// The API root: the client calls `{url}/api/v2/statements`.
    pub fn url(&self) -> String {
        self.base.clone()
    }

    pub fn account(&self) -> &'static str {
        SF_ACCOUNT
    }

    pub fn user(&self) -> &'static str {
        SF_USER
    }

    /// The registered key's `RSA_PUBLIC_KEY_FP`: `SHA256:<base64>`.
    pub fn fingerprint(&self) -> String {
        self.state.key.fingerprint.clone()
    }

    /// The `iss` a key-pair JWT must carry: `TESTACCT.ANOMSTACK.SHA256:<base64>`.
    pub fn expected_issuer(&self) -> String {
        format!("{SF_ACCOUNT}.{SF_USER}.{}", self.fingerprint())
    }

    /// The `sub` a key-pair JWT must carry: `TESTACCT.ANOMSTACK`.
    pub fn expected_subject(&self) -> String {
        format!("{SF_ACCOUNT}.{SF_USER}")
    }

    /// Answers every statement whose text is exactly `statement` (surrounding whitespace
    /// ignored).
    pub fn on_statement(&self, statement: &str, answer: SfAnswer) {
        self.inner()
            .keyed
            .insert(statement.trim().to_owned(), answer);
    }

    /// Answers the next statement whose text has no answer of its own (first in, first out).
    pub fn on_next_statement(&self, answer: SfAnswer) {
        self.inner().queue.push_back(answer);
    }

    /// Every request, in order; `path` holds the path and query string.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log.all()
    }

    /// Submissions (POST /api/v2/statements), authorised or not.
    pub fn submit_requests(&self) -> usize {
        self.inner().submit_requests
    }

    /// The JSON bodies of authorised submissions: statement, timeout, database, schema,
    /// warehouse, role...
    pub fn submissions(&self) -> Vec<Value> {
        self.inner().submissions.clone()
    }

    /// The query parameters of authorised submissions (requestId, async, retry...).
    pub fn submit_params(&self) -> Vec<HashMap<String, String>> {
        self.inner().submit_params.clone()
    }

    /// Authorised status / partition requests: (handle, partition parameter).
    pub fn status_requests(&self) -> Vec<(String, Option<usize>)> {
        self.inner().status_requests.clone()
    }

    /// The partitions asked for with `?partition=`, in order.
    pub fn partitions_requested(&self) -> Vec<usize> {
        self.inner()
            .status_requests
            .iter()
            .filter_map(|(_, p)| *p)
            .collect()
    }

    /// Statement handles cancelled.
    pub fn cancelled(&self) -> Vec<String> {
        self.inner().cancelled.clone()
    }

    /// Claims of the key-pair JWTs accepted.
    pub fn accepted_claims(&self) -> Vec<Value> {
        self.inner().accepted_claims.clone()
    }

    /// Why requests were refused 401, in order.
    pub fn auth_failures(&self) -> Vec<String> {
        self.inner().auth_failures.clone()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, SfInner> {
        self.state.inner.lock().unwrap()
    }
}

fn sf_unauthorized(s: &SfState, why: String) -> Response {
    s.inner.lock().unwrap().auth_failures.push(why.clone());
    reply(
        401,
        json!({"code": "390144", "message": format!("JWT token is invalid. [{why}]")}),
    )
}

/// A 401 answer unless the request authenticates.
fn sf_authorize(s: &SfState, headers: &HeaderMap) -> Option<Response> {
    match sf_check_auth(s, headers) {
        Ok(()) => None,
        Err(why) => Some(sf_unauthorized(s, why)),
    }
}

fn sf_check_auth(s: &SfState, headers: &HeaderMap) -> Result<(), String> {
    let token = bearer(headers).ok_or("no Authorization: Bearer header")?;
    // Snowflake reads a request without the token-type header as OAuth.
    let kind = header(headers, "x-snowflake-authorization-token-type")
        .unwrap_or_else(|| "OAUTH".into())
        .to_ascii_uppercase();
    match kind.as_str() {
        "KEYPAIR_JWT" => {
            let (_, claims) = verify_rs256(&token, &s.key)?;
            let issuer = format!("{SF_ACCOUNT}.{SF_USER}.{}", s.key.fingerprint);
            let subject = format!("{SF_ACCOUNT}.{SF_USER}");
            if claims["iss"] != issuer.as_str() {
                return Err(format!("iss {} is not {issuer}", claims["iss"]));
            }
            if claims["sub"] != subject.as_str() {
                return Err(format!("sub {} is not {subject}", claims["sub"]));
            }
            check_times(&claims, 3600)?;
            s.inner.lock().unwrap().accepted_claims.push(claims);
            Ok(())
        }
        "PROGRAMMATIC_ACCESS_TOKEN" | "OAUTH" => match &s.opts.accept_token {
            Some(t) if *t == token => Ok(()),
            _ => Err(format!("{kind} token is not the accepted one")),
        },
        other => Err(format!(
            "unknown X-Snowflake-Authorization-Token-Type {other}"
        )),
    }
}

/// The rowType `type` for a column's type name.
fn sf_type(ty: &str) -> String {
    match ty {
        "FIXED" | "NUMBER" | "NUMERIC" | "DECIMAL" | "INT" | "INTEGER" | "BIGINT" => "fixed",
        "REAL" | "FLOAT" | "FLOAT8" | "DOUBLE" => "real",
        "TEXT" | "VARCHAR" | "STRING" | "CHAR" => "text",
        "TIMESTAMP" | "DATETIME" => "timestamp_ntz",
        other => return other.to_ascii_lowercase(),
    }
    .to_owned()
}

fn sf_column_name(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(quoted) => quoted.to_owned(),
        None => name.to_ascii_uppercase(),
    }
}

fn sf_row_type(column: &Column) -> Value {
    let ty = sf_type(&column.ty);
    let (precision, scale, length): (Value, Value, Value) = match ty.as_str() {
        "fixed" => (
            column.precision.unwrap_or(38).into(),
            column.scale.unwrap_or(0).into(),
            Value::Null,
        ),
        "text" => (Value::Null, Value::Null, 16_777_216.into()),
        "timestamp_ntz" | "timestamp_ltz" | "timestamp_tz" | "time" => {
            (0.into(), column.scale.unwrap_or(9).into(), Value::Null)
        }
        _ => (Value::Null, Value::Null, Value::Null),
    };
    json!({
        "name": sf_column_name(&column.name),
        "database": "",
        "schema": "",
        "table": "",
        "type": ty,
        "scale": scale,
        "precision": precision,
        "nullable": true,
        "byteLength": length,
        "length": length,
    })
}

/// Seconds since the epoch with nine decimals: `1700000000.000000000`, `-0.500000000`.
fn sf_epoch(t: DateTime<Utc>) -> String {
    let nanos = t.timestamp() as i128 * 1_000_000_000 + t.timestamp_subsec_nanos() as i128;
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.abs();
    format!("{sign}{}.{:09}", abs / 1_000_000_000, abs % 1_000_000_000)
}

fn sf_encode(column: &Column, cell: &Cell) -> Value {
    let ty = sf_type(&column.ty);
    let text = match (ty.as_str(), cell) {
        (_, Cell::Null) => return Value::Null,
        (_, Cell::Raw(v)) => return v.clone(),
        ("fixed", Cell::Int(i)) => match column.scale.unwrap_or(0) {
            0 => i.to_string(),
            s => format!("{i}.{}", "0".repeat(s as usize)),
        },
        ("fixed", Cell::Float(f)) => format!("{f:.*}", column.scale.unwrap_or(0) as usize),
        ("real", Cell::Float(f)) => f.to_string(),
        ("real", Cell::Int(i)) => i.to_string(),
        ("boolean", Cell::Bool(b)) => b.to_string(),
        ("date", c) if as_wall_clock(c).is_some() => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            (as_wall_clock(c).unwrap().date() - epoch)
                .num_days()
                .to_string()
        }
        ("timestamp_ntz", c) if as_wall_clock(c).is_some() => {
            sf_epoch(as_wall_clock(c).unwrap().and_utc())
        }
        ("timestamp_ltz", c) if as_instant(c).is_some() => sf_epoch(as_instant(c).unwrap()),
        ("timestamp_tz", Cell::TimestampTz(t)) => format!(
            "{} {}",
            sf_epoch(t.with_timezone(&Utc)),
            t.offset().local_minus_utc() / 60 + 1440
        ),
        ("timestamp_tz", c) if as_instant(c).is_some() => {
            format!("{} 1440", sf_epoch(as_instant(c).unwrap()))
        }
        (_, c) => return display_cell(c),
    };
    text.into()
}

fn sf_partitions(answer: &SfAnswer, opts: &SnowflakeOpts) -> Vec<Vec<Value>> {
    let table = &answer.table;
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|row| {
            table
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| sf_encode(c, v))
                .collect()
        })
        .collect();
    let size = answer
        .partition_size
        .or(opts.partition_size)
        .unwrap_or(usize::MAX)
        .max(1);
    if rows.is_empty() {
        return vec![Vec::new()];
    }
    rows.chunks(size.min(rows.len()))
        .map(<[Value]>::to_vec)
        .collect()
}

fn sf_status_url(handle: &str, request_id: Option<&str>) -> String {
    match request_id {
        Some(r) => format!("/api/v2/statements/{handle}?requestId={r}"),
        None => format!("/api/v2/statements/{handle}"),
    }
}

fn sf_in_progress(handle: &str) -> Response {
    reply(
        202,
        json!({
            "code": "333334",
            "message": "Asynchronous execution in progress. Use provided query id to perform \
                        query monitoring and management.",
            "statementHandle": handle,
            "statementStatusUrl": sf_status_url(handle, None),
        }),
    )
}

fn sf_failure(handle: &str, st: &SfStatement, code: &str, message: &str) -> Response {
    let sql_state = match code {
        "002003" => "02000",
        "000604" => "57014",
        _ => "42000",
    };
    reply(
        422,
        json!({
            "code": code,
            "message": message,
            "sqlState": sql_state,
            "statementHandle": handle,
            "createdOn": st.created_on,
            "statementStatusUrl": sf_status_url(handle, st.request_id.as_deref()),
        }),
    )
}

fn sf_result(handle: &str, st: &SfStatement, opts: &SnowflakeOpts) -> Response {
    let partitions = sf_partitions(&st.answer, opts);
    let info: Vec<Value> = partitions
        .iter()
        .map(|p| {
            json!({
                "rowCount": p.len(),
                "uncompressedSize": Value::Array(p.clone()).to_string().len(),
            })
        })
        .collect();
    reply(
        200,
        json!({
            "resultSetMetaData": {
                "numRows": st.answer.table.rows.len(),
                "format": "jsonv2",
                "partitionInfo": info,
                "rowType": st.answer.table.columns.iter().map(sf_row_type).collect::<Vec<_>>(),
            },
            "data": partitions[0],
            "code": "090001",
            "statementStatusUrl": sf_status_url(handle, st.request_id.as_deref()),
            "requestId": st.request_id,
            "sqlState": "00000",
            "statementHandle": handle,
            "message": "Statement executed successfully.",
            "createdOn": st.created_on,
        }),
    )
}

/// The statement's answer now. `submit_async`: the submission asked for `async=true`, which is
/// 202 whatever the statement's state. `partition`: only that partition's rows.
fn sf_answer(
    handle: &str,
    st: &mut SfStatement,
    opts: &SnowflakeOpts,
    submit_async: bool,
    partition: Option<usize>,
) -> Response {
    if st.cancelled {
        return sf_failure(handle, st, "000604", "SQL execution canceled");
    }
    if st.answer.never_complete {
        return sf_in_progress(handle);
    }
    if st.polls_left > 0 {
        st.polls_left -= 1;
        return sf_in_progress(handle);
    }
    if submit_async {
        return sf_in_progress(handle);
    }
    if let Some((code, message)) = st.answer.fail_with.clone() {
        return sf_failure(handle, st, &code, &message);
    }
    match partition {
        None => sf_result(handle, st, opts),
        Some(i) => match sf_partitions(&st.answer, opts).get(i) {
            // Snowflake serves partitions after the first gzip-compressed, whatever the request
            // asked for.
            Some(rows) if i > 0 => gzip_reply(json!({"data": rows})),
            Some(rows) => reply(200, json!({"data": rows})),
            None => reply(
                422,
                json!({
                    "code": "391920",
                    "message": format!("Partition {i} is out of range."),
                    "statementHandle": handle,
                }),
            ),
        },
    }
}

fn gzip_reply(body: Value) -> Response {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body.to_string().as_bytes()).unwrap();
    let bytes = encoder.finish().unwrap();
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(axum::body::Body::from(bytes))
        .unwrap()
}

async fn sf_submit(
    State(s): State<SfState>,
    Query(params): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s.log, &uri, &headers, &body);
    s.inner.lock().unwrap().submit_requests += 1;
    if let Some(r) = sf_authorize(&s, &headers) {
        return r;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return reply(
            400,
            json!({"code": "390142", "message": "Incoming request does not contain a valid payload."}),
        );
    };
    let statement = request["statement"].as_str().unwrap_or_default().to_owned();
    let request_id = params.get("requestId").cloned();
    let submit_async = params.get("async").is_some_and(|v| v == "true");
    let retry = params.get("retry").is_some_and(|v| v == "true");
    let (handle, delay) = {
        let mut inner = s.inner.lock().unwrap();
        inner.submissions.push(request.clone());
        inner.submit_params.push(params.clone());
        if statement.is_empty() {
            return reply(
                400,
                json!({"code": "391903", "message": "The statement is required."}),
            );
        }
        // A retried request (same requestId, retry=true) gets the first submission's statement.
        let existing = request_id
            .as_ref()
            .filter(|_| retry)
            .and_then(|r| inner.by_request_id.get(r).cloned());
        match existing {
            Some(handle) => {
                let delay = inner.statements[&handle].answer.delay;
                (handle, delay)
            }
            None => {
                let SfInner { keyed, queue, .. } = &mut *inner;
                let Some(answer) = take_answer(keyed, queue, &statement) else {
                    return reply(
                        422,
                        json!({
                            "code": "002003",
                            "message": format!(
                                "SQL compilation error:\nObject 'FAKE' does not exist or not \
                                 authorized. (the fake Snowflake has no canned answer for the \
                                 statement {statement:?})"
                            ),
                            "sqlState": "02000",
                        }),
                    );
                };
                inner.next_handle += 1;
                let handle = format!("01b00000-0000-4000-8000-{:012x}", inner.next_handle);
                if let Some(r) = &request_id {
                    inner.by_request_id.insert(r.clone(), handle.clone());
                }
                let delay = answer.delay;
                inner.statements.insert(
                    handle.clone(),
                    SfStatement {
                        polls_left: answer.pending_polls,
                        answer,
                        request_id: request_id.clone(),
                        created_on: Utc::now().timestamp_millis(),
                        cancelled: false,
                    },
                );
                (handle, delay)
            }
        }
    };
    tokio::time::sleep(delay).await;
    let mut inner = s.inner.lock().unwrap();
    let st = inner.statements.get_mut(&handle).unwrap();
    sf_answer(&handle, st, &s.opts, submit_async, None)
}

fn sf_not_found(handle: &str) -> Response {
    reply(
        404,
        json!({"code": "000709", "message": format!("Statement {handle} not found."), "statementHandle": handle}),
    )
}

async fn sf_status(
    State(s): State<SfState>,
    Path(handle): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&s.log, &uri, &headers, &Bytes::new());
    if let Some(r) = sf_authorize(&s, &headers) {
        return r;
    }
    let partition = match params.get("partition") {
        None => None,
        Some(p) => match p.parse::<usize>() {
            Ok(p) => Some(p),
            Err(_) => {
                return reply(
                    400,
                    json!({"code": "391920", "message": format!("Invalid partition {p:?}.")}),
                );
            }
        },
    };
    let delay = {
        let mut inner = s.inner.lock().unwrap();
        inner.status_requests.push((handle.clone(), partition));
        match inner.statements.get(&handle) {
            Some(st) => st.answer.delay,
            None => return sf_not_found(&handle),
        }
    };
    tokio::time::sleep(delay).await;
    let mut inner = s.inner.lock().unwrap();
    let st = inner.statements.get_mut(&handle).unwrap();
    sf_answer(&handle, st, &s.opts, false, partition)
}

async fn sf_cancel(
    State(s): State<SfState>,
    Path(handle): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s.log, &uri, &headers, &body);
    if let Some(r) = sf_authorize(&s, &headers) {
        return r;
    }
    let mut inner = s.inner.lock().unwrap();
    let Some(st) = inner.statements.get_mut(&handle) else {
        return sf_not_found(&handle);
    };
    st.cancelled = true;
    let url = sf_status_url(&handle, st.request_id.as_deref());
    inner.cancelled.push(handle.clone());
    reply(
        200,
        json!({
            "code": "000604",
            "sqlState": "57014",
            "message": "SQL execution canceled",
            "statementHandle": handle,
            "statementStatusUrl": url,
        }),
    )
}

async fn sf_unknown(
    State(s): State<SfState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&s.log, &uri, &headers, &body);
    reply(
        404,
        json!({"code": "390404", "message": format!("The fake Snowflake has no endpoint {uri}.")}),
    )
}
