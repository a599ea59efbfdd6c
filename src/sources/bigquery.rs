//! `db: bigquery`: the batch's query through BigQuery's REST API (`jobs.query`, then
//! `jobs.getQueryResults` to wait and to page), authenticated as a service account: a JWT
//! signed with its key is exchanged for an access token at its `token_uri`, kept until it
//! nearly expires. A query still running at the deadline is cancelled.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::jwt::SigningKey;
use super::table::{Cell, Table};
use super::{Fetched, Limits, SourceError, Sources};
use crate::config::{BigquerySettings, GoogleCredentials};
use crate::http::{path_segment, without_url};

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";
/// Rows per page; BigQuery also caps pages at about 10 MB.
const PAGE_ROWS: u32 = 10_000;
/// How long one call waits for the job server-side before answering "not yet".
const WAIT_MS: u64 = 10_000;

#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    token_uri: String,
    #[serde(default)]
    project_id: Option<String>,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    #[serde(default)]
    job_complete: bool,
    #[serde(default)]
    job_reference: Option<JobReference>,
    #[serde(default)]
    schema: Option<Schema>,
    #[serde(default)]
    rows: Vec<Row>,
    #[serde(default)]
    page_token: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct JobReference {
    project_id: String,
    job_id: String,
    #[serde(default)]
    location: Option<String>,
}

#[derive(Deserialize)]
struct Schema {
    #[serde(default)]
    fields: Vec<Field>,
}

#[derive(Deserialize)]
struct Field {
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    f: Vec<FieldValue>,
}

#[derive(Deserialize)]
struct FieldValue {
    #[serde(default)]
    v: serde_json::Value,
}

/// Runs `sql` in `project` (the batch's `gcp_project_id`), else in `ANOMSTACK_GCP_PROJECT_ID`'s,
/// else in the service account's own project.
pub async fn fetch(
    batch: &str,
    sources: &Sources,
    project: Option<&str>,
    limits: Limits,
    sql: &str,
) -> Result<Fetched, SourceError> {
    let settings = sources.settings();
    let Some(bq) = &settings.bigquery else {
        return Err(SourceError::failed(
            batch,
            "db `bigquery` needs a service account key: ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS \
             (a file) or ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS_JSON",
        ));
    };
    let failed = |m: String| SourceError::failed(batch, format!("bigquery: {m}"));
    let account = service_account(bq).map_err(failed)?;
    let project = project
        .map(str::to_owned)
        .or_else(|| bq.project_id.clone())
        .or_else(|| account.project_id.clone())
        .ok_or_else(|| failed("set ANOMSTACK_GCP_PROJECT_ID (the key names no project)".into()))?;
    let http = sources.http().map_err(failed)?;
    let token_key = format!("bigquery:{}", account.client_email);
    let token = sources
        .token(&token_key, || access_token(&http, &account))
        .await
        .map_err(failed)?;
    let client = Client {
        http: &http,
        api: &bq.api_url,
        token: &token,
    };
    let deadline = Instant::now() + limits.timeout;
    // A 401 on any call means the cached token went bad: forget it, so the next run asks anew.
    let key = token_key.as_str();
    let checked = |result: Result<QueryResponse, CallError>| async move {
        if matches!(&result, Err(CallError::Unauthorized(_))) {
            sources.forget_token(key).await;
        }
        result.map_err(|e| failed(e.to_string()))
    };

    let mut body = json!({
        "query": sql,
        "useLegacySql": false,
        "timeoutMs": WAIT_MS,
        "maxResults": PAGE_ROWS,
        "formatOptions": {"useInt64Timestamp": true},
        // Google stops the job itself at the deadline, even if this process is gone.
        "jobTimeoutMs": limits.timeout.as_millis().to_string(),
    });
    if let Some(location) = &bq.location {
        body["location"] = location.as_str().into();
    }
    let url = format!(
        "{}/bigquery/v2/projects/{}/queries",
        bq.api_url,
        path_segment(&project)
    );
    let mut page = checked(client.send(client.http.post(url).json(&body)).await).await?;

    let job = page.job_reference.clone();
    let results = |job: &JobReference, page_token: Option<&str>| {
        let mut query: Vec<(&str, String)> = vec![
            ("timeoutMs", WAIT_MS.to_string()),
            ("maxResults", PAGE_ROWS.to_string()),
            ("formatOptions.useInt64Timestamp", "true".to_owned()),
        ];
        if let Some(location) = &job.location {
            query.push(("location", location.clone()));
        }
        if let Some(token) = page_token {
            query.push(("pageToken", token.to_owned()));
        }
        client
            .http
            .get(format!(
                "{}/bigquery/v2/projects/{}/queries/{}",
                client.api,
                path_segment(&job.project_id),
                path_segment(&job.job_id)
            ))
            .query(&query)
    };

    while !page.job_complete {
        let Some(job) = &job else {
            return Err(failed(
                "the job is not complete and has no id to wait on".into(),
            ));
        };
        if Instant::now() >= deadline {
            client.cancel(job).await;
            return Err(failed(format!(
                "the query was still running after {} s and was cancelled \
                 (ANOMSTACK_SOURCE_QUERY_TIMEOUT_SECONDS, ingest_timeout_seconds)",
                limits.timeout.as_secs()
            )));
        }
        page = checked(client.send(results(job, None)).await).await?;
    }

    let columns: Vec<Field> = page.schema.take().map(|s| s.fields).unwrap_or_default();
    let kinds: Vec<String> = columns
        .iter()
        .map(|f| f.kind.to_ascii_uppercase())
        .collect();
    let mut rows = Vec::new();
    loop {
        rows.extend(page.rows.drain(..).map(|row| {
            row.f
                .into_iter()
                .zip(&kinds)
                .map(|(field, kind)| cell(field.v, kind))
                .collect::<Vec<Cell>>()
        }));
        limits.check_rows(rows.len()).map_err(failed)?;
        let (Some(token), Some(job)) = (page.page_token.take(), &job) else {
            break;
        };
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "reading the results took longer than {} s",
                limits.timeout.as_secs()
            )));
        }
        page = checked(client.send(results(job, Some(&token))).await).await?;
    }
    Table {
        columns: columns.into_iter().map(|f| f.name).collect(),
        rows,
    }
    .into_fetched(batch)
}

fn service_account(bq: &BigquerySettings) -> Result<ServiceAccount, String> {
    let (json, origin) = match &bq.credentials {
        GoogleCredentials::Inline(json) => (
            json.expose().to_owned(),
            "ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS_JSON".to_owned(),
        ),
        GoogleCredentials::File(path) => (
            std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read the service account key {} (ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS): {e}",
                    path.display()
                )
            })?,
            path.display().to_string(),
        ),
    };
    // serde's Display can quote the whole input (a double-encoded key is one JSON string), so
    // only the kind and position of the problem leave this function.
    serde_json::from_str(&json).map_err(|e| {
        format!(
            "{origin} is not a service account key ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })
}

async fn access_token(
    http: &reqwest::Client,
    account: &ServiceAccount,
) -> Result<(String, Duration), String> {
    let key = SigningKey::from_pem(&account.private_key)
        .map_err(|e| format!("service account {}: {e}", account.client_email))?;
    let now = chrono::Utc::now().timestamp();
    let assertion = key
        .sign(
            &json!({
                "iss": account.client_email,
                "scope": SCOPE,
                "aud": account.token_uri,
                "iat": now,
                "exp": now + 3600,
            }),
            account.private_key_id.as_deref(),
        )
        .map_err(|e| e.to_string())?;
    let response = http
        .post(&account.token_uri)
        // The token cache is locked meanwhile: a stuck endpoint must not hold every batch.
        .timeout(Duration::from_secs(30))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .map_err(|e| format!("token request: {}", without_url(&e)))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let reason = body["error_description"]
            .as_str()
            .or_else(|| body["error"].as_str())
            .unwrap_or("no reason given");
        return Err(format!(
            "Google refused the service account {} (HTTP {status}): {reason}",
            account.client_email
        ));
    }
    let token = body["access_token"]
        .as_str()
        .ok_or("the token answer has no access_token")?
        .to_owned();
    let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
    Ok((token, lifetime))
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Failed(String),
}

struct Client<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
    token: &'a str,
}

impl Client<'_> {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<QueryResponse, CallError> {
        let response = request
            .bearer_auth(self.token)
            .send()
            .await
            .map_err(|e| CallError::Failed(without_url(&e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Failed(without_url(&e)))?;
        if !status.is_success() {
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let message = body["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| text.chars().take(300).collect());
            let message = format!("HTTP {status}: {message}");
            return Err(if status == reqwest::StatusCode::UNAUTHORIZED {
                CallError::Unauthorized(message)
            } else {
                CallError::Failed(message)
            });
        }
        serde_json::from_str(&text)
            .map_err(|e| CallError::Failed(format!("unexpected answer: {e}")))
    }

    /// Best effort: the run already failed; a job left running only costs money.
    async fn cancel(&self, job: &JobReference) {
        let mut request = self.http.post(format!(
            "{}/bigquery/v2/projects/{}/jobs/{}/cancel",
            self.api,
            path_segment(&job.project_id),
            path_segment(&job.job_id)
        ));
        if let Some(location) = &job.location {
            request = request.query(&[("location", location)]);
        }
        if let Err(e) = request.bearer_auth(self.token).send().await {
            tracing::warn!(job = %job.job_id, error = %without_url(&e), "could not cancel the BigQuery job");
        }
    }
}

/// A REST cell by its column's type: numbers, booleans and times arrive as strings.
fn cell(value: serde_json::Value, kind: &str) -> Cell {
    let text = match value {
        serde_json::Value::Null => return Cell::Null,
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => return n.as_f64().map_or(Cell::Null, Cell::Number),
        other => return Cell::Text(other.to_string()),
    };
    match kind {
        "INTEGER" | "INT64" | "FLOAT" | "FLOAT64" | "NUMERIC" | "BIGNUMERIC" | "BIGDECIMAL" => {
            Cell::numeric_text(text)
        }
        "BOOLEAN" | "BOOL" => match text.as_str() {
            "true" => Cell::Number(1.0),
            "false" => Cell::Number(0.0),
            _ => Cell::Text(text),
        },
        // Microseconds since the epoch (useInt64Timestamp), or float seconds without it.
        "TIMESTAMP" => match text.parse::<i64>() {
            Ok(micros) => chrono::DateTime::from_timestamp_micros(micros)
                .map_or(Cell::Text(text), |t| Cell::Time(t.naive_utc())),
            Err(_) => text
                .parse::<f64>()
                .ok()
                .and_then(|secs| {
                    chrono::DateTime::from_timestamp_micros((secs * 1e6).round() as i64)
                })
                .map_or(Cell::Text(text), |t| Cell::Time(t.naive_utc())),
        },
        _ => Cell::Text(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_cells_follow_their_column_types() {
        let t = |v: &str, k: &str| cell(serde_json::Value::String(v.into()), k);
        assert_eq!(t("42", "INTEGER"), Cell::Number(42.0));
        assert_eq!(t("1.5E3", "FLOAT"), Cell::Number(1500.0));
        assert_eq!(t("true", "BOOLEAN"), Cell::Number(1.0));
        let micros = t("1700000000123456", "TIMESTAMP");
        let seconds = t("1.700000000123456E9", "TIMESTAMP");
        assert!(matches!(micros, Cell::Time(ts) if ts.and_utc().timestamp() == 1_700_000_000));
        assert!(matches!(seconds, Cell::Time(ts) if ts.and_utc().timestamp() == 1_700_000_000));
        assert_eq!(
            t("2024-01-01T10:00:00", "DATETIME"),
            Cell::Text("2024-01-01T10:00:00".into())
        );
        assert_eq!(cell(serde_json::Value::Null, "FLOAT"), Cell::Null);
    }

    #[test]
    fn a_double_encoded_key_is_refused_without_quoting_it() {
        // What an env var holding `json.dumps(json.dumps(key))` looks like: one JSON string.
        let inner = r#"{"client_email":"a@b.iam","private_key":"-----BEGIN PRIVATE KEY-----\nMIIEsecret\n"}"#;
        let outer = serde_json::Value::String(inner.to_owned()).to_string();
        let settings = BigquerySettings {
            credentials: GoogleCredentials::Inline(crate::config::Secret::new(outer)),
            project_id: None,
            location: None,
            api_url: String::new(),
        };
        let Err(err) = service_account(&settings) else {
            panic!("a JSON string is not a key");
        };
        assert!(err.contains("not a service account key"), "{err}");
        assert!(!err.contains("MIIE") && !err.contains("PRIVATE"), "{err}");
    }
}
