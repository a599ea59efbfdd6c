//! `db: snowflake`: the batch's query through Snowflake's SQL API v2 (`/api/v2/statements`),
//! JSON results read partition by partition. Authenticated with a key pair (an RS256 JWT
//! naming the public key's fingerprint), an OAuth token, or a programmatic access token. A
//! statement still running at the deadline is cancelled.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::jwt::SigningKey;
use super::table::{Cell, Table};
use super::{Fetched, Limits, SourceError, Sources};
use crate::config::{SnowflakeAuth, SnowflakeSettings};
use crate::http::without_url;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    sql_state: Option<String>,
    #[serde(default)]
    statement_handle: Option<String>,
    #[serde(default)]
    result_set_meta_data: Option<Meta>,
    #[serde(default)]
    data: Vec<Vec<Option<String>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    row_type: Vec<Column>,
    #[serde(default)]
    partition_info: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Column {
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
}

pub async fn fetch(
    batch: &str,
    sources: &Sources,
    limits: Limits,
    sql: &str,
) -> Result<Fetched, SourceError> {
    let settings = sources.settings();
    let Some(sf) = &settings.snowflake else {
        return Err(SourceError::failed(
            batch,
            "db `snowflake` needs ANOMSTACK_SNOWFLAKE_ACCOUNT, _USER and a key pair \
             (_PRIVATE_KEY_PATH) or token (_TOKEN, _PASSWORD as a programmatic access token)",
        ));
    };
    let failed = |m: String| SourceError::failed(batch, format!("snowflake: {m}"));
    let http = sources.http().map_err(failed)?;
    let (token, token_type) = credentials(sf).map_err(failed)?;
    let client = Client {
        http: &http,
        api: &sf.api_url,
        token: &token,
        token_type,
    };
    let timeout = limits.timeout;
    let deadline = Instant::now() + timeout;

    let mut body = json!({"statement": sql, "timeout": timeout.as_secs()});
    for (key, value) in [
        ("warehouse", &sf.warehouse),
        ("database", &sf.database),
        ("schema", &sf.schema),
        ("role", &sf.role),
    ] {
        if let Some(v) = value {
            body[key] = v.as_str().into();
        }
    }
    let (mut status, mut answer) = client
        .call(
            client
                .http
                .post(format!("{}/api/v2/statements", client.api))
                .query(&[("requestId", request_id().as_str())])
                .json(&body),
        )
        .await
        .map_err(failed)?;
    let mut pause = Duration::from_millis(250);
    while status == reqwest::StatusCode::ACCEPTED {
        let handle = answer
            .statement_handle
            .clone()
            .ok_or_else(|| failed("the statement runs but has no handle to wait on".into()))?;
        if Instant::now() >= deadline {
            client.cancel(&handle).await;
            return Err(failed(format!(
                "the statement was still running after {} s and was cancelled \
                 (ANOMSTACK_SOURCE_QUERY_TIMEOUT_SECONDS, ingest_timeout_seconds)",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_secs(2));
        (status, answer) = client
            .call(client.http.get(statement_url(client.api, &handle)))
            .await
            .map_err(failed)?;
    }

    let meta = answer
        .result_set_meta_data
        .take()
        .ok_or_else(|| failed("the answer has no resultSetMetaData".into()))?;
    let kinds: Vec<String> = meta
        .row_type
        .iter()
        .map(|c| c.kind.to_ascii_lowercase())
        .collect();
    let mut rows = Vec::new();
    let mut add = |data: Vec<Vec<Option<String>>>| {
        rows.extend(data.into_iter().map(|row| {
            row.into_iter()
                .zip(&kinds)
                .map(|(v, kind)| v.map_or(Cell::Null, |v| cell(v, kind)))
                .collect::<Vec<Cell>>()
        }));
    };
    add(std::mem::take(&mut answer.data));
    limits.check_rows(rows_seen(&meta, 0)).map_err(failed)?;
    if meta.partition_info.len() > 1 {
        let handle = answer
            .statement_handle
            .clone()
            .ok_or_else(|| failed("a result in partitions has no statement handle".into()))?;
        for partition in 1..meta.partition_info.len() {
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "reading the results took longer than {} s",
                    timeout.as_secs()
                )));
            }
            let (_, part) = client
                .call(
                    client
                        .http
                        .get(statement_url(client.api, &handle))
                        .query(&[("partition", partition)]),
                )
                .await
                .map_err(failed)?;
            add(part.data);
            limits
                .check_rows(rows_seen(&meta, partition))
                .map_err(failed)?;
        }
    }
    Table {
        columns: meta.row_type.into_iter().map(|c| c.name).collect(),
        rows,
    }
    .into_fetched(batch)
}

/// Rows in partitions 0..=`last`, as the result's metadata counts them.
fn rows_seen(meta: &Meta, last: usize) -> usize {
    meta.partition_info
        .iter()
        .take(last + 1)
        .map(|p| p["rowCount"].as_u64().unwrap_or(0) as usize)
        .sum()
}

fn statement_url(api: &str, handle: &str) -> String {
    let safe: String = handle
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("{api}/api/v2/statements/{safe}")
}

/// A UUID v4 for `requestId`, which the SQL API asks of every submission.
fn request_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // SystemRandom only fails when the OS has no randomness; a fixed id then only loses the
    // retry deduplication.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The bearer token and its type header.
fn credentials(sf: &SnowflakeSettings) -> Result<(String, &'static str), String> {
    match &sf.auth {
        SnowflakeAuth::KeyPair(pem) => {
            let key = SigningKey::from_pem(pem.expose()).map_err(|e| e.to_string())?;
            let qualified = format!(
                "{}.{}",
                account_for_jwt(&sf.account),
                sf.user.to_ascii_uppercase()
            );
            let now = chrono::Utc::now().timestamp();
            let jwt = key
                .sign(
                    &json!({
                        "iss": format!("{qualified}.{}", key.public_key_fingerprint()),
                        "sub": qualified,
                        "iat": now,
                        "exp": now + 3600,
                    }),
                    None,
                )
                .map_err(|e| e.to_string())?;
            Ok((jwt, "KEYPAIR_JWT"))
        }
        SnowflakeAuth::OAuth(token) => Ok((token.expose().to_owned(), "OAUTH")),
        SnowflakeAuth::ProgrammaticToken(token) => {
            Ok((token.expose().to_owned(), "PROGRAMMATIC_ACCESS_TOKEN"))
        }
    }
}

/// The account as JWTs name it: upper case, without a locator's region part
/// (`xy12345.us-east-1` → `XY12345`); `myorg-myaccount` stays whole.
fn account_for_jwt(account: &str) -> String {
    let account = account
        .trim()
        .trim_end_matches(".snowflakecomputing.com")
        .trim_end_matches(".global");
    account
        .split('.')
        .next()
        .unwrap_or(account)
        .to_ascii_uppercase()
}

struct Client<'a> {
    http: &'a reqwest::Client,
    api: &'a str,
    token: &'a str,
    token_type: &'static str,
}

impl Client<'_> {
    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .bearer_auth(self.token)
            .header("X-Snowflake-Authorization-Token-Type", self.token_type)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Answer), String> {
        let response = self
            .authed(request)
            .send()
            .await
            .map_err(|e| without_url(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| without_url(&e))?;
        let answer: Answer = serde_json::from_str(&text).unwrap_or_default();
        if status.is_success() {
            if answer.code.is_none()
                && answer.data.is_empty()
                && !text.trim_start().starts_with('{')
            {
                return Err(format!("unexpected answer (HTTP {status})"));
            }
            return Ok((status, answer));
        }
        let message = answer
            .message
            .clone()
            .unwrap_or_else(|| text.chars().take(300).collect());
        let mut detail = format!("HTTP {status}");
        if let Some(code) = &answer.code {
            detail.push_str(&format!(", code {code}"));
        }
        if let Some(state) = &answer.sql_state {
            detail.push_str(&format!(", SQL state {state}"));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(format!(
                "Snowflake refused the credentials ({detail}): {message}"
            ));
        }
        Err(format!("{message} ({detail})"))
    }

    /// Best effort: the run already failed; a statement left running only costs credits.
    async fn cancel(&self, handle: &str) {
        let url = format!("{}/cancel", statement_url(self.api, handle));
        if let Err(e) = self.authed(self.http.post(url)).send().await {
            tracing::warn!(statement = handle, error = %without_url(&e), "could not cancel the Snowflake statement");
        }
    }
}

/// A JSON result cell by its column type: every value arrives as a string.
fn cell(text: String, kind: &str) -> Cell {
    match kind {
        "fixed" | "real" | "number" | "decimal" | "float" | "double" => Cell::numeric_text(text),
        "boolean" => match text.as_str() {
            "true" | "1" => Cell::Number(1.0),
            "false" | "0" => Cell::Number(0.0),
            _ => Cell::Text(text),
        },
        // Days since the epoch.
        "date" => text
            .parse::<i64>()
            .ok()
            .and_then(|days| days.checked_mul(86_400))
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
            .map_or(Cell::Text(text), |t| Cell::Time(t.naive_utc())),
        // Seconds since the epoch in UTC; TIMESTAMP_TZ adds its offset after a space.
        "timestamp_ntz" | "timestamp_ltz" | "timestamp_tz" => {
            let seconds = text.split_whitespace().next().unwrap_or_default();
            Cell::epoch_seconds(seconds).unwrap_or(Cell::Text(text))
        }
        _ => Cell::Text(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_accounts_drop_the_region_and_upper_case() {
        assert_eq!(account_for_jwt("xy12345.us-east-1"), "XY12345");
        assert_eq!(account_for_jwt("myorg-myaccount"), "MYORG-MYACCOUNT");
        assert_eq!(
            account_for_jwt("myorg-acct.snowflakecomputing.com"),
            "MYORG-ACCT"
        );
    }

    #[test]
    fn json_cells_follow_their_column_types() {
        assert_eq!(cell("1.50".into(), "fixed"), Cell::Number(1.5));
        assert_eq!(cell("true".into(), "boolean"), Cell::Number(1.0));
        let day = cell("19723".into(), "date");
        assert!(matches!(day, Cell::Time(t) if t.to_string() == "2024-01-01 00:00:00"));
        let tz = cell("1700000000.000000000 1500".into(), "timestamp_tz");
        assert!(matches!(tz, Cell::Time(t) if t.and_utc().timestamp() == 1_700_000_000));
        assert_eq!(cell("x".into(), "text"), Cell::Text("x".into()));
        assert_eq!(request_id().len(), 36);
    }
}
