//! Each `db` engine ingests a batch end to end: the batch's SQL runs where the data lives, and
//! the rows land in a real app database. BigQuery and Snowflake run against local servers that
//! speak their REST APIs (`tests/support/warehouses.rs`); the others against real servers.

use anomstack::config::{
    BigquerySettings, GoogleCredentials, Secret, SnowflakeAuth, SnowflakeSettings, SourceSettings,
};
use anomstack::connectors::Connectors;
use anomstack::jobs::{self, JobCtx, Trigger};
use anomstack::sources::Sources;
use anomstack::store::{Store, Value};
use chrono::{TimeZone, Utc};

use crate::support::MetricsDir;
use crate::support::warehouses::{
    self, BigQueryOpts, BqAnswer, FakeBigQuery, FakeSnowflake, SfAnswer, SnowflakeOpts, Table,
};

/// A batch on engine `db` with this SQL, ingested once; the stored rows (timestamp, name,
/// value) sorted, or the run's error.
pub async fn ingest(
    db: &str,
    sql: &str,
    sources: SourceSettings,
) -> Result<Vec<(String, String, f64)>, String> {
    let yaml = format!(
        "db: {db}\ningest_sql: |\n{}\n",
        sql.lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    ingest_batch(&yaml, &[], sources).await.0
}

/// A batch `src` with these YAML keys and these files beside it (executable when they start
/// with `#!`), ingested once: the stored rows or the error, and the run's log.
pub async fn ingest_batch(
    yaml: &str,
    files: &[(&str, &str)],
    sources: SourceSettings,
) -> (Result<Vec<(String, String, f64)>, String>, String) {
    let dir = MetricsDir::new();
    dir.write("src.yaml", &format!("metric_batch: src\n{yaml}"));
    for (name, text) in files {
        let path = dir.write(name, text);
        if text.starts_with("#!") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let config = dir.load_ok(&[]);
    let batch = config.batch("src").expect("batch");
    let store = Store::open(&anomstack::config::DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .expect("store");
    let ctx = JobCtx {
        connectors: Connectors::new(Sources::new(sources), Default::default()),
        ..JobCtx::new(
            store.clone(),
            config.templates.clone(),
            Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap(),
        )
    };
    let outcome = jobs::run_recorded(
        &ctx,
        batch,
        anomstack::config::BatchJob::Ingest,
        Trigger::Cli,
    )
    .await
    .map_err(|e| e.to_string());
    let runs = store
        .query("SELECT log FROM job_runs ORDER BY id", "test")
        .await
        .expect("runs");
    let log = runs
        .rows
        .iter()
        .map(|r| match &r[0] {
            Value::Text(s) => s.clone(),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    if let Err(e) = outcome {
        return (Err(e), log);
    }
    let result = store
        .query(
            "SELECT metric_timestamp, metric_name, metric_value FROM metrics \
             WHERE metric_type = 'metric' ORDER BY metric_name, metric_timestamp",
            "test",
        )
        .await
        .expect("read back");
    let rows = result
        .rows
        .iter()
        .map(|r| {
            let text = |v: &Value| match v {
                Value::Text(s) => s.clone(),
                other => format!("{other:?}"),
            };
            let value = match r[2] {
                Value::Real(v) => v,
                Value::Integer(v) => v as f64,
                _ => f64::NAN,
            };
            (text(&r[0]), text(&r[1]), value)
        })
        .collect();
    (Ok(rows), log)
}

pub fn quick(mut sources: SourceSettings) -> SourceSettings {
    sources.query_timeout = std::time::Duration::from_secs(20);
    sources
}

fn at(h: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, h, 0, 0).unwrap()
}

// ---- BigQuery -------------------------------------------------------------------------

fn bigquery(fake: &FakeBigQuery, key: &str) -> SourceSettings {
    quick(SourceSettings {
        bigquery: Some(BigquerySettings {
            credentials: GoogleCredentials::Inline(Secret::new(fake.credentials_json(key))),
            project_id: None,
            location: None,
            api_url: fake.url(),
        }),
        ..Default::default()
    })
}

const BQ_SQL: &str = "SELECT metric_timestamp, metric_name, metric_value FROM `proj.ds.sales`";

fn bq_rows(n: u32) -> Table {
    let mut table = Table::new(&[
        ("metric_timestamp", "TIMESTAMP"),
        ("metric_name", "STRING"),
        ("metric_value", "FLOAT"),
    ]);
    for h in 0..n {
        table.push([
            at(h).into(),
            "sales".into(),
            warehouses::Cell::from(f64::from(h) + 0.5),
        ]);
    }
    table
}

#[tokio::test]
async fn bigquery_pages_through_a_job_that_needs_waiting_for() {
    let fake = FakeBigQuery::start(BigQueryOpts::default()).await;
    fake.on_query(
        BQ_SQL,
        BqAnswer::rows(bq_rows(5)).page_size(2).pending_polls(2),
    );
    let rows = ingest("bigquery", BQ_SQL, bigquery(&fake, warehouses::TEST_KEY))
        .await
        .unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows[0], ("2024-01-01 00:00:00".into(), "sales".into(), 0.5));
    assert_eq!(rows[4], ("2024-01-01 04:00:00".into(), "sales".into(), 4.5));
    assert_eq!(fake.page_tokens().len(), 2, "pages 2 and 3 were fetched");
    assert_eq!(fake.token_requests(), 1);
    let body = &fake.query_bodies()[0];
    assert_eq!(body["useLegacySql"], false);
    assert_eq!(body["formatOptions"]["useInt64Timestamp"], true);
    assert_eq!(
        body["jobTimeoutMs"], "20000",
        "Google stops the job at the deadline too"
    );
    let claims = &fake.accepted_claims()[0];
    assert_eq!(claims["iss"], warehouses::BQ_CLIENT_EMAIL);
}

#[tokio::test]
async fn bigquery_quotes_a_failed_job_and_a_refused_key() {
    let fake = FakeBigQuery::start(BigQueryOpts::default()).await;
    fake.on_query(
        BQ_SQL,
        BqAnswer::failing("Unrecognized name: metric_valu at [1:40]"),
    );
    let err = ingest("bigquery", BQ_SQL, bigquery(&fake, warehouses::TEST_KEY))
        .await
        .unwrap_err();
    assert!(
        err.contains("src") && err.contains("Unrecognized name: metric_valu"),
        "{err}"
    );

    let err = ingest("bigquery", BQ_SQL, bigquery(&fake, warehouses::OTHER_KEY))
        .await
        .unwrap_err();
    assert!(
        err.contains("refused the service account") && err.contains("Invalid JWT Signature"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}

#[tokio::test]
async fn bigquery_cancels_a_job_still_running_when_the_ingest_times_out() {
    let fake = FakeBigQuery::start(BigQueryOpts::default()).await;
    fake.on_query(
        BQ_SQL,
        BqAnswer::rows(bq_rows(1))
            .never_complete()
            .delay(std::time::Duration::from_millis(300)),
    );
    // The query may run 20 s, but the batch's ingest only 3: the job is cancelled before the
    // ingest gives up, not left running (and billing) on Google's side.
    let yaml = format!("db: bigquery\ningest_timeout_seconds: 3\ningest_sql: \"{BQ_SQL}\"\n");
    let (rows, _) = ingest_batch(&yaml, &[], bigquery(&fake, warehouses::TEST_KEY)).await;
    let err = rows.unwrap_err();
    assert!(err.contains("cancelled"), "{err}");
    assert_eq!(fake.cancelled_jobs().len(), 1);
}

// ---- Snowflake ------------------------------------------------------------------------

fn snowflake(fake: &FakeSnowflake, auth: SnowflakeAuth) -> SourceSettings {
    quick(SourceSettings {
        snowflake: Some(SnowflakeSettings {
            account: "testacct".into(),
            user: "anomstack".into(),
            auth,
            warehouse: Some("COMPUTE_WH".into()),
            database: Some("ANALYTICS".into()),
            schema: Some("PUBLIC".into()),
            role: None,
            api_url: fake.url(),
        }),
        ..Default::default()
    })
}

const SF_SQL: &str = "select metric_timestamp, metric_name, metric_value from sales";

fn sf_rows(n: u32) -> Table {
    let mut table = Table::new(&[
        ("METRIC_TIMESTAMP", "TIMESTAMP_NTZ"),
        ("METRIC_NAME", "TEXT"),
        ("METRIC_VALUE", "NUMBER(38,2)"),
    ]);
    for h in 0..n {
        table.push([
            at(h).naive_utc().into(),
            "orders".into(),
            warehouses::Cell::decimal(&format!("{h}.25")),
        ]);
    }
    table
}

#[tokio::test]
async fn snowflake_reads_every_partition_of_an_asynchronous_statement() {
    let fake = FakeSnowflake::start(SnowflakeOpts::default()).await;
    fake.on_statement(
        SF_SQL,
        SfAnswer::rows(sf_rows(7))
            .partition_size(3)
            .pending_polls(2),
    );
    let key = SnowflakeAuth::KeyPair(Secret::new(warehouses::TEST_KEY));
    let rows = ingest("snowflake", SF_SQL, snowflake(&fake, key))
        .await
        .unwrap();
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert_eq!(
        rows[6],
        ("2024-01-01 06:00:00".into(), "orders".into(), 6.25)
    );
    assert_eq!(fake.partitions_requested(), vec![1, 2]);
    let submitted = &fake.submissions()[0];
    assert_eq!(submitted["warehouse"], "COMPUTE_WH");
    assert_eq!(submitted["database"], "ANALYTICS");
    assert_eq!(fake.accepted_claims()[0]["iss"], fake.expected_issuer());
}

#[tokio::test]
async fn snowflake_quotes_sql_errors_and_refused_credentials() {
    let fake = FakeSnowflake::start(SnowflakeOpts {
        accept_token: Some("pat-123".into()),
        ..Default::default()
    })
    .await;
    fake.on_statement(SF_SQL, SfAnswer::missing_object("SALES"));
    let pat = SnowflakeAuth::ProgrammaticToken(Secret::new("pat-123"));
    let err = ingest("snowflake", SF_SQL, snowflake(&fake, pat))
        .await
        .unwrap_err();
    assert!(err.contains("Object 'SALES' does not exist"), "{err}");
    assert!(err.contains("002003"), "{err}");

    let other = SnowflakeAuth::KeyPair(Secret::new(warehouses::OTHER_KEY));
    let err = ingest("snowflake", SF_SQL, snowflake(&fake, other))
        .await
        .unwrap_err();
    assert!(
        err.contains("refused the credentials") && err.contains("390144"),
        "{err}"
    );
}

#[tokio::test]
async fn snowflake_cancels_a_statement_still_running_at_the_deadline() {
    let fake = FakeSnowflake::start(SnowflakeOpts::default()).await;
    fake.on_statement(SF_SQL, SfAnswer::rows(sf_rows(1)).never_complete());
    let key = SnowflakeAuth::KeyPair(Secret::new(warehouses::TEST_KEY));
    let mut sources = snowflake(&fake, key);
    sources.query_timeout = std::time::Duration::from_secs(1);
    let err = ingest("snowflake", SF_SQL, sources).await.unwrap_err();
    assert!(err.contains("cancelled"), "{err}");
    assert_eq!(fake.cancelled().len(), 1);
}

#[tokio::test]
async fn an_engine_without_settings_names_the_variables_to_set() {
    for (db, var) in [
        ("bigquery", "ANOMSTACK_GOOGLE_APPLICATION_CREDENTIALS"),
        ("snowflake", "ANOMSTACK_SNOWFLAKE_ACCOUNT"),
        ("clickhouse", "ANOMSTACK_CLICKHOUSE_HOST"),
        ("postgres", "ANOMSTACK_POSTGRES_URL"),
        ("redshift", "ANOMSTACK_REDSHIFT_URL"),
        ("turso", "ANOMSTACK_TURSO_SOURCE_URL"),
    ] {
        let err = ingest(db, "SELECT 1", SourceSettings::default())
            .await
            .unwrap_err();
        assert!(err.contains(var) && err.contains("src"), "{db}: {err}");
    }
}
