//! `db` engines against real servers on 127.0.0.1, started by `tests/support/services.rs`
//! (PostgreSQL and ClickHouse from Debian, installed by `scripts/install_test_deps.sh`), a real
//! DuckDB file, and a Hrana server standing in for Turso.

use std::time::Duration;

use anomstack::config::{
    ClickhouseSettings, PostgresSettings, Secret, SourceSettings, SslMode, TursoSourceSettings,
};

use super::sources::{ingest, quick};
use crate::support::services::{ClickHouse, Postgres};
use crate::support::sqld::Sqld;

fn postgres_settings(pg: &Postgres, sslmode: SslMode) -> PostgresSettings {
    PostgresSettings {
        host: pg.host.clone(),
        port: pg.port,
        user: pg.user.clone(),
        password: Secret::new(pg.password.clone()),
        database: pg.database.clone(),
        sslmode,
        root_cert: None,
    }
}

const PG_SETUP: &str = "
CREATE TABLE sales (ts timestamptz, region text, amount numeric(12,2), orders bigint, ratio double precision);
INSERT INTO sales VALUES
  ('2024-01-01 00:00:00+00', 'eu', 1234.50, 10, 0.25),
  ('2024-01-01 01:00:00+02', 'eu', 99.99, 9007199254740993, 0.5),
  ('2024-01-01 02:00:00+00', 'us', NULL, 3, 'NaN');
";

#[tokio::test]
async fn postgres_reads_every_numeric_and_temporal_type_in_utc() {
    let pg = Postgres::start().await;
    pg.exec(PG_SETUP).await;
    let sql = "SELECT ts AS \"Metric_Timestamp\", 'amount_' || region AS metric_name, amount AS metric_value FROM sales
UNION ALL SELECT ts, '007', 7 FROM sales WHERE region = 'us'
UNION ALL SELECT ts, 'orders', orders FROM sales
UNION ALL SELECT ts::date, 'ratio', ratio FROM sales";
    let sources = quick(SourceSettings {
        postgres: Some(postgres_settings(&pg, SslMode::Disable)),
        ..Default::default()
    });
    let rows = ingest("postgres", sql, sources).await.unwrap();
    let find = |name: &str, ts: &str| {
        rows.iter()
            .find(|r| r.1 == name && r.0 == ts)
            .map(|r| r.2)
            .unwrap_or_else(|| panic!("no {name} at {ts} in {rows:?}"))
    };
    assert_eq!(find("amount_eu", "2024-01-01 00:00:00"), 1234.5);
    // Names are kept as written, even when they look like numbers.
    assert_eq!(find("007", "2024-01-01 02:00:00"), 7.0);
    // +02:00 is read in UTC.
    assert_eq!(find("amount_eu", "2023-12-31 23:00:00"), 99.99);
    assert_eq!(find("orders", "2023-12-31 23:00:00"), 9007199254740993.0);
    assert_eq!(find("ratio", "2023-12-31 00:00:00"), 0.5);
    assert_eq!(find("ratio", "2024-01-01 00:00:00"), 0.25);
    // The NULL amount and the NaN ratio are rejected, not stored.
    assert!(!rows.iter().any(|r| r.1 == "amount_us"), "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.1 == "ratio").count(),
        2,
        "{rows:?}"
    );
}

#[tokio::test]
async fn postgres_quotes_the_server_and_stops_long_queries() {
    let pg = Postgres::start().await;
    let mut sources = quick(SourceSettings {
        postgres: Some(postgres_settings(&pg, SslMode::Disable)),
        ..Default::default()
    });
    let err = ingest("postgres", "SELECT * FROM nope", sources.clone())
        .await
        .unwrap_err();
    assert!(
        err.contains("src")
            && err.contains("relation \"nope\" does not exist")
            && err.contains("42P01"),
        "{err}"
    );

    sources.query_timeout = Duration::from_secs(1);
    let err = ingest(
        "postgres",
        "SELECT now() AS metric_timestamp, 'm' AS metric_name, 1 AS metric_value FROM pg_sleep(5)",
        sources.clone(),
    )
    .await
    .unwrap_err();
    assert!(err.contains("statement timeout"), "{err}");

    sources.query_timeout = Duration::from_secs(20);
    sources.max_rows = 5;
    let err = ingest(
        "postgres",
        "SELECT now() AS metric_timestamp, 'm' || i AS metric_name, i AS metric_value FROM generate_series(1, 100000) AS i",
        sources.clone(),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("more than 5 rows") && err.contains("ANOMSTACK_SOURCE_MAX_ROWS"),
        "{err}"
    );

    let mut wrong = postgres_settings(&pg, SslMode::Disable);
    wrong.password = Secret::new("wrong-password");
    let err = ingest(
        "postgres",
        "SELECT 1",
        quick(SourceSettings {
            postgres: Some(wrong),
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("wrong-password"), "{err}");
}

#[tokio::test]
async fn postgres_over_tls_checks_the_certificate_when_asked() {
    let pg = Postgres::start_with_tls().await;
    pg.exec(
        "CREATE TABLE m (ts timestamp, v real); INSERT INTO m VALUES ('2024-01-01 00:00:00', 1.5);",
    )
    .await;
    let sql = "SELECT ts AS metric_timestamp, 'm' AS metric_name, v AS metric_value, ssl FROM m, pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl";
    let with = |mode: SslMode, ca: bool| {
        let mut s = postgres_settings(&pg, mode);
        s.host = "localhost".into();
        if ca {
            s.root_cert = pg.ca_cert.clone();
        }
        quick(SourceSettings {
            redshift: Some(s),
            ..Default::default()
        })
    };
    // Redshift speaks the same protocol; the row only comes back over an encrypted session.
    let rows = ingest("redshift", sql, with(SslMode::VerifyFull, true))
        .await
        .unwrap();
    assert_eq!(rows, vec![("2024-01-01 00:00:00".into(), "m".into(), 1.5)]);
    let rows = ingest("redshift", sql, with(SslMode::Require, false))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let err = ingest("redshift", sql, with(SslMode::VerifyFull, false))
        .await
        .unwrap_err();
    assert!(
        err.contains("cannot connect") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn clickhouse_reads_its_types_over_http() {
    let ch = ClickHouse::start().await;
    ch.query("CREATE TABLE events (ts DateTime, name String, hits UInt64, latency Nullable(Float64)) ENGINE = Memory")
        .await;
    ch.query("INSERT INTO events VALUES ('2024-01-01 00:00:00', 'api', 18446744073709551615, 1.25), ('2024-01-01 01:00:00', 'api', 7, NULL)")
        .await;
    let settings = |password: &str| {
        quick(SourceSettings {
            clickhouse: Some(ClickhouseSettings {
                url: ch.url(),
                user: ch.user.clone(),
                password: Secret::new(password),
                database: "default".into(),
            }),
            ..Default::default()
        })
    };
    let sql = "SELECT ts AS metric_timestamp, concat(name, '_hits') AS metric_name, hits AS metric_value FROM events";
    let rows = ingest("clickhouse", sql, settings(&ch.password))
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "2024-01-01 00:00:00".into(),
                "api_hits".into(),
                18446744073709551615.0
            ),
            ("2024-01-01 01:00:00".into(), "api_hits".into(), 7.0)
        ]
    );
    let sql = "SELECT ts AS metric_timestamp, 'api_latency' AS metric_name, latency AS metric_value FROM events";
    let rows = ingest("clickhouse", sql, settings(&ch.password))
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![("2024-01-01 00:00:00".into(), "api_latency".into(), 1.25)],
        "the NULL latency is rejected"
    );

    let err = ingest("clickhouse", "SELECT * FROM nope", settings(&ch.password))
        .await
        .unwrap_err();
    assert!(
        err.contains("src") && err.contains("Code: 60") && err.contains("nope"),
        "{err}"
    );
    let err = ingest("clickhouse", "SELECT 1", settings("wrong-password"))
        .await
        .unwrap_err();
    assert!(
        err.contains("Code: 193") || err.contains("Wrong password") || err.contains("password"),
        "{err}"
    );
    assert!(!err.contains("wrong-password"), "{err}");
}

#[tokio::test]
async fn turso_reads_a_database_of_its_own() {
    // A real libSQL server (what Turso runs), with JWT auth.
    let server = Sqld::start_with_auth().await;
    {
        let db = libsql::Builder::new_remote(server.url.clone(), server.token())
            .build()
            .await
            .unwrap();
        let conn = db.connect().unwrap();
        conn.execute_batch(
            "CREATE TABLE signups (day TEXT, n INTEGER);
             INSERT INTO signups VALUES ('2024-01-01', 5), ('2024-01-02', 8);",
        )
        .await
        .unwrap();
    }
    let sources = quick(SourceSettings {
        turso: Some(TursoSourceSettings {
            url: server.url.clone(),
            token: Secret::new(server.token()),
        }),
        ..Default::default()
    });
    let rows = ingest(
        "turso",
        "SELECT day AS metric_timestamp, 'signups' AS metric_name, n AS metric_value FROM signups",
        sources,
    )
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("2024-01-01 00:00:00".into(), "signups".into(), 5.0),
            ("2024-01-02 00:00:00".into(), "signups".into(), 8.0)
        ]
    );
}

#[cfg(feature = "duckdb")]
#[tokio::test]
async fn duckdb_runs_a_batch_on_a_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/warehouse.duckdb");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let conn = duckdb::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE revenue (ts TIMESTAMPTZ, day DATE, product VARCHAR, amount DECIMAL(18,3), units HUGEINT, ok BOOLEAN);
             INSERT INTO revenue VALUES
               ('2024-01-01 10:00:00+00', '2024-01-01', 'a', 10.125, 3, true),
               ('2024-01-01 11:30:00+01', '2024-01-02', 'b', 20.5, 4, false);",
        )
        .unwrap();
    }
    let mut sources = quick(SourceSettings::default());
    sources.duckdb.path = path.display().to_string();
    let sql = "SELECT ts AS metric_timestamp, 'amount_' || product AS METRIC_NAME, amount AS metric_value FROM revenue
UNION ALL SELECT day::TIMESTAMP, 'units_' || product, units FROM revenue
UNION ALL SELECT ts, 'ok_' || product, ok::INTEGER FROM revenue";
    let rows = ingest("duckdb", sql, sources.clone()).await.unwrap();
    assert!(
        rows.contains(&("2024-01-01 10:00:00".into(), "amount_a".into(), 10.125)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("2024-01-01 10:30:00".into(), "amount_b".into(), 20.5)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("2024-01-02 00:00:00".into(), "units_b".into(), 4.0)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("2024-01-01 10:30:00".into(), "ok_b".into(), 0.0)),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 6);

    let err = ingest("duckdb", "SELECT * FROM nope", sources.clone())
        .await
        .unwrap_err();
    assert!(err.contains("src") && err.contains("nope"), "{err}");

    // A file that does not exist yet is created, with its folders.
    let mut fresh = sources;
    fresh.duckdb.path = dir.path().join("new/dir/x.duckdb").display().to_string();
    let rows = ingest(
        "duckdb",
        "SELECT TIMESTAMP '2024-01-01' AS metric_timestamp, 'x' AS metric_name, 1 AS metric_value",
        fresh,
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
}
