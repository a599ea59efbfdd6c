//! The app database as a local libsql file: migrations, upserts and windowed reads.

use anomstack::config::DatabaseLocation;
use anomstack::store::{self, MetricRow, MetricType, Store, StoreError, WindowQuery};
use chrono::NaiveDateTime;

pub fn ts(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

pub fn row(name: &str, t: &str, kind: MetricType, value: f64) -> MetricRow {
    MetricRow {
        timestamp: ts(t),
        batch: "b".into(),
        name: name.into(),
        metric_type: kind,
        value,
        metadata: String::new(),
    }
}

fn local(dir: &tempfile::TempDir) -> DatabaseLocation {
    DatabaseLocation::Local {
        path: dir.path().join("nested/dir/app.db"),
    }
}

pub async fn count(store: &Store, sql: &str) -> i64 {
    let conn = store.connect().await.unwrap();
    let mut rows = conn.query(sql, ()).await.unwrap();
    rows.next().await.unwrap().unwrap().get::<i64>(0).unwrap()
}

/// Polls `sql` (a count) every 100 ms until it reaches `want`, for at most `seconds`; on
/// timeout the panic shows the runs and the queue, which say why.
pub async fn wait_for(store: &Store, sql: &str, want: i64, seconds: u64) {
    for _ in 0..seconds * 10 {
        if count(store, sql).await >= want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let runs = store
        .query("SELECT job, status, error FROM job_runs", "test")
        .await
        .map(|r| format!("{:?}", r.rows));
    let queue = store
        .query("SELECT status, attempts, last_error FROM job_queue", "test")
        .await
        .map(|r| format!("{:?}", r.rows));
    panic!(
        "timed out waiting for `{sql}` to reach {want} (is {}); runs {runs:?}; queue {queue:?}",
        count(store, sql).await
    );
}

#[tokio::test]
async fn an_empty_database_is_created_with_its_folders_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    assert!(dir.path().join("nested/dir/app.db").exists());
    assert_eq!(
        store.schema_version().await.unwrap(),
        store::latest_version()
    );
    for table in ["metrics", "job_runs", "models", "anomstack_schema"] {
        let n = count(
            &store,
            &format!(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ),
        )
        .await;
        assert_eq!(n, 1, "table {table}");
    }
    let conn = store.connect().await.unwrap();
    let mut rows = conn.query("PRAGMA journal_mode", ()).await.unwrap();
    let mode: String = rows.next().await.unwrap().unwrap().get(0).unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reopening_an_up_to_date_database_keeps_its_data_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    store
        .upsert_metrics(
            "metrics",
            &[row("m", "2024-01-01 00:00:00", MetricType::Metric, 1.0)],
        )
        .await
        .unwrap();
    drop(store);
    let store = Store::open(&local(&dir)).await.unwrap();
    let report = store.migrate().await.unwrap();
    assert_eq!(report.from, report.to);
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 1);
    assert_eq!(
        count(&store, "SELECT count(*) FROM anomstack_schema").await,
        i64::from(store::latest_version())
    );
}

#[tokio::test]
async fn a_database_written_by_an_older_schema_migrates_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let old = Store::open_unmigrated(&local(&dir)).await.unwrap();
    let conn = old.connect().await.unwrap();
    store::migrations::migrate_to(&conn, 1).await.unwrap();
    conn.execute(
        "INSERT INTO metrics VALUES ('2024-01-01 00:00:00', 'b', 'm', 'metric', 3.5, '')",
        (),
    )
    .await
    .unwrap();
    assert_eq!(old.schema_version().await.unwrap(), 1);
    drop(conn);
    drop(old);

    let store = Store::open(&local(&dir)).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        store::latest_version()
    );
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 1);
    assert_eq!(count(&store, "SELECT count(*) FROM job_runs").await, 0);
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    let conn = store.connect().await.unwrap();
    conn.execute(
        "INSERT INTO anomstack_schema VALUES (999, 'from the future', '2030-01-01 00:00:00')",
        (),
    )
    .await
    .unwrap();
    drop(conn);
    drop(store);
    let err = Store::open(&local(&dir)).await.err().expect("refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("newer than this anomstack supports"),
        "{err}"
    );
}

#[tokio::test]
async fn two_processes_opening_one_new_database_apply_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let loc = local(&dir);
    let (a, b) = tokio::join!(Store::open(&loc), Store::open(&loc));
    let store = a.unwrap();
    b.unwrap();
    assert_eq!(
        count(&store, "SELECT count(*) FROM anomstack_schema").await,
        i64::from(store::latest_version())
    );
}

#[tokio::test]
async fn writing_the_same_rows_twice_leaves_one_copy_with_the_latest_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    let mut rows: Vec<MetricRow> = (0..400)
        .map(|i| {
            row(
                &format!("m{}", i % 4),
                &format!("2024-01-01 00:{:02}:{:02}", i / 60 % 60, i % 60),
                MetricType::Metric,
                f64::from(i),
            )
        })
        .collect();
    rows.push(row("m0", "2024-01-01 00:00:00", MetricType::Score, 0.5));
    let first = store.upsert_metrics("metrics", &rows).await.unwrap();
    assert_eq!(first.written, 401);
    store.upsert_metrics("metrics", &rows).await.unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 401);

    let mut changed = rows[0].clone();
    changed.value = 99.0;
    changed.metadata = r#"{"note":"it's quoted"}"#.into();
    store.upsert_metrics("metrics", &[changed]).await.unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 401);
    let conn = store.connect().await.unwrap();
    let mut r = conn
        .query(
            "SELECT metric_value, metadata FROM metrics WHERE metric_name = 'm0' AND metric_type = 'metric' AND metric_timestamp = '2024-01-01 00:00:00'",
            (),
        )
        .await
        .unwrap();
    let got = r.next().await.unwrap().unwrap();
    assert_eq!(got.get::<f64>(0).unwrap(), 99.0);
    assert_eq!(got.get::<String>(1).unwrap(), r#"{"note":"it's quoted"}"#);
}

#[tokio::test]
async fn a_failed_write_stores_nothing_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    let mut rows: Vec<MetricRow> = (0..10)
        .map(|i| {
            row(
                "m",
                &format!("2024-01-01 00:00:{i:02}"),
                MetricType::Metric,
                1.0,
            )
        })
        .collect();
    rows[7].value = f64::NAN;
    let err = store.upsert_metrics("metrics", &rows).await.unwrap_err();
    assert!(err.to_string().contains("row 8"), "{err}");
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 0);
}

#[tokio::test]
async fn the_window_holds_the_newest_points_of_every_metric_of_one_type() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    let mut rows = Vec::new();
    for name in ["a", "b"] {
        for minute in 0..10 {
            let t = format!("2024-01-01 00:{minute:02}:00");
            rows.push(row(name, &t, MetricType::Metric, f64::from(minute)));
            rows.push(row(name, &t, MetricType::Score, 0.1));
        }
    }
    let mut other_batch = row("a", "2024-01-01 00:30:00", MetricType::Metric, 5.0);
    other_batch.batch = "other".into();
    rows.push(other_batch);
    store.upsert_metrics("metrics", &rows).await.unwrap();

    let window = store
        .metric_window(&WindowQuery {
            table: "metrics",
            batch: "b",
            metric_type: MetricType::Metric,
            max_n: 3,
            since: None,
            until: None,
        })
        .await
        .unwrap();
    let got: Vec<(String, String, f64)> = window
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.timestamp.format("%M").to_string(),
                r.value,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a".into(), "07".into(), 7.0),
            ("a".into(), "08".into(), 8.0),
            ("a".into(), "09".into(), 9.0),
            ("b".into(), "07".into(), 7.0),
            ("b".into(), "08".into(), 8.0),
            ("b".into(), "09".into(), 9.0),
        ]
    );
    assert!(window.iter().all(|r| r.metric_type == MetricType::Metric));

    let bounded = store
        .metric_window(&WindowQuery {
            table: "metrics",
            batch: "b",
            metric_type: MetricType::Score,
            max_n: 100,
            since: Some(ts("2024-01-01 00:02:00")),
            until: Some(ts("2024-01-01 00:04:00")),
        })
        .await
        .unwrap();
    assert_eq!(bounded.len(), 6);
}

#[tokio::test]
async fn batches_may_keep_their_rows_in_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    let rows = [row("m", "2024-01-01 00:00:00", MetricType::Metric, 1.0)];
    store.upsert_metrics("metrics_github", &rows).await.unwrap();
    store.upsert_metrics("metrics_github", &rows).await.unwrap();
    assert_eq!(
        count(&store, "SELECT count(*) FROM metrics_github").await,
        1
    );
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 0);
    let err = store.upsert_metrics("bad name", &rows).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidTable(_)));
}

#[tokio::test]
async fn a_key_repeated_within_one_write_keeps_its_last_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&local(&dir)).await.unwrap();
    let rows = [
        row("m", "2024-01-01 00:00:00", MetricType::Metric, 1.0),
        row("m", "2024-01-01 00:00:00", MetricType::Metric, 2.0),
    ];
    store.upsert_metrics("metrics", &rows).await.unwrap();
    let conn = store.connect().await.unwrap();
    let mut r = conn
        .query("SELECT metric_value FROM metrics", ())
        .await
        .unwrap();
    assert_eq!(r.next().await.unwrap().unwrap().get::<f64>(0).unwrap(), 2.0);
    assert!(r.next().await.unwrap().is_none());
}

/// Saves models (one with characters unsafe in paths, one with a 10 KB name, one
/// overwritten) and reloads them, looks for one never saved, then does it again after
/// reopening the app database: a machine restarted without a volume (Turso as the database,
/// `db://` or an object store) still finds its models. The object-store tests run it against
/// their emulators.
pub async fn model_store_round_trip(url: &str, clouds: &anomstack::config::ObjectStoreSettings) {
    use anomstack::model_store::ModelStore;
    let dir = tempfile::tempdir().unwrap();
    let location = DatabaseLocation::Local {
        path: dir.path().join("app.db"),
    };
    let store = Store::open(&location).await.unwrap();
    let models = ModelStore::from_path(url, &store, clouds).unwrap();
    let long = "é/".repeat(2_500);
    let saved = [
        ("sales", "revenue", "pca", "{\"v\":1}"),
        ("sales", "eu/rev:%", "knn", "{\"v\":2}"),
        ("other", "revenue", "pca", "{\"v\":3}"),
        ("sales", long.as_str(), "knn", "{\"v\":5}"),
        // Overwriting keeps one object.
        ("sales", "revenue", "pca", "{\"v\":4}"),
    ];
    for (batch, metric, tag, body) in saved {
        models
            .save(batch, metric, tag, body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    drop(models);
    for reopened in [false, true] {
        let store = if reopened {
            Store::open(&location).await.unwrap()
        } else {
            store.clone()
        };
        let models = ModelStore::from_path(url, &store, clouds).unwrap();
        for (batch, metric, tag, body) in [
            ("sales", "revenue", "pca", "{\"v\":4}"),
            ("sales", "eu/rev:%", "knn", "{\"v\":2}"),
            ("other", "revenue", "pca", "{\"v\":3}"),
            ("sales", long.as_str(), "knn", "{\"v\":5}"),
        ] {
            assert_eq!(
                models.load(batch, metric, tag).await.unwrap().as_deref(),
                Some(body.as_bytes()),
                "{url}, reopened {reopened}: {batch} {} {tag}",
                &metric[..metric.len().min(20)]
            );
        }
        assert_eq!(models.load("sales", "missing", "pca").await.unwrap(), None);
        assert_eq!(models.load("sales", "revenue", "knn").await.unwrap(), None);
    }
}

#[tokio::test]
async fn database_and_file_model_stores_save_load_and_survive_a_restart() {
    let files = tempfile::tempdir().unwrap();
    let local = format!("local://{}", files.path().join("models").display());
    for url in ["db://", local.as_str()] {
        model_store_round_trip(url, &Default::default()).await;
    }
}

/// Models an earlier version wrote under percent-encoded names are still found, and the
/// next save moves them to their keyed name.
#[tokio::test]
async fn models_saved_under_earlier_file_names_stay_loadable() {
    use anomstack::model_store::ModelStore;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.path().join("app.db"),
    })
    .await
    .unwrap();
    let root = dir.path().join("models");
    std::fs::create_dir_all(root.join("sales")).unwrap();
    let old = root.join("sales").join("eu%2Frev%3A%25_knn.json");
    std::fs::write(&old, b"{\"v\":1}").unwrap();
    std::fs::write(root.join("sales").join("plain_knn.json"), b"{\"v\":2}").unwrap();
    let models = ModelStore::from_path(
        &format!("local://{}", root.display()),
        &store,
        &Default::default(),
    )
    .unwrap();
    let load = |metric: &'static str| {
        let models = models.clone();
        async move { models.load("sales", metric, "knn").await.unwrap() }
    };
    assert_eq!(load("eu/rev:%").await.as_deref(), Some(&b"{\"v\":1}"[..]));
    assert_eq!(load("plain").await.as_deref(), Some(&b"{\"v\":2}"[..]));
    models
        .save("sales", "eu/rev:%", "knn", b"{\"v\":3}")
        .await
        .unwrap();
    assert!(
        !old.exists(),
        "the earlier copy is replaced, not left to shadow"
    );
    assert_eq!(load("eu/rev:%").await.as_deref(), Some(&b"{\"v\":3}"[..]));
}

/// The metrics table as the original Anomstack's SQLite writer created it: the six columns,
/// no key. Its score job re-inserted every scored point on every run, so duplicates abound.
const ORIGINAL_DDL: &str = "CREATE TABLE IF NOT EXISTS metrics (metric_timestamp TEXT, metric_batch TEXT, metric_name TEXT, metric_type TEXT, metric_value REAL, metadata TEXT)";

async fn original_table(path: &std::path::Path, table: &str) {
    let db = libsql::Builder::new_local(path).build().await.unwrap();
    let conn = db.connect().unwrap();
    conn.execute(
        &ORIGINAL_DDL.replace(" metrics ", &format!(" {table} ")),
        (),
    )
    .await
    .unwrap();
    for (ts, kind, value, metadata) in [
        ("2024-01-01 10:00:00", "metric", Some(1.0), None),
        // The same point, written again with microseconds and then with a `T`: the newest wins.
        ("2024-01-01 10:00:00.123456", "metric", Some(2.0), Some("")),
        (
            "2024-01-01T10:00:00",
            "metric",
            Some(3.0),
            Some("{\"a\": 1}"),
        ),
        ("2024-01-01 10:05:00", "metric", Some(4.0), None),
        ("2024-01-01 10:05:00", "score", Some(0.1), None),
        ("2024-01-01 10:05:00", "score", Some(0.2), None),
        ("2024-01-01 10:05:00", "score", Some(0.3), None),
        ("2024-01-01 10:10:00", "metric", None, None),
    ] {
        conn.execute(
            &format!("INSERT INTO {table} VALUES (?1, 'b', 'm', ?2, ?3, ?4)"),
            libsql::params![ts, kind, value, metadata],
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_metrics_table_made_by_the_original_is_taken_over_without_losing_points() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    original_table(&path, "metrics").await;
    original_table(&path, "metrics_python_ingest_simple").await;
    {
        // What a user built on the old table: a view for their BI tool, an audit trigger, and
        // a row their own script wrote without a name.
        let db = libsql::Builder::new_local(&path).build().await.unwrap();
        let conn = db.connect().unwrap();
        conn.execute_batch(
            "CREATE VIEW latest_scores AS SELECT metric_name, metric_value FROM metrics WHERE metric_type = 'score';
             CREATE TABLE audit (n INTEGER);
             CREATE TRIGGER count_inserts AFTER INSERT ON metrics BEGIN INSERT INTO audit VALUES (1); END;
             INSERT INTO metrics VALUES ('2024-01-01 10:30:00', 'b', NULL, 'metric', 1.0, NULL);
             DELETE FROM audit;",
        )
        .await
        .unwrap();
    }

    let store = Store::open(&DatabaseLocation::Local { path: path.clone() })
        .await
        .unwrap();
    // The view reads the new table; the trigger fires on it.
    assert_eq!(count(&store, "SELECT count(*) FROM latest_scores").await, 1);
    assert_eq!(count(&store, "SELECT count(*) FROM audit").await, 0);
    // One row per point, the newest write winning, timestamps in the app's format.
    let rows = count(&store, "SELECT count(*) FROM metrics").await;
    assert_eq!(rows, 3);
    let conn = store.connect().await.unwrap();
    let mut found = conn
        .query(
            "SELECT metric_timestamp, metric_type, metric_value, metadata FROM metrics ORDER BY 1, 2",
            (),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(row) = found.next().await.unwrap() {
        got.push((
            row.get::<String>(0).unwrap(),
            row.get::<String>(1).unwrap(),
            row.get::<f64>(2).unwrap(),
            row.get::<String>(3).unwrap(),
        ));
    }
    assert_eq!(
        got,
        [
            (
                "2024-01-01 10:00:00".into(),
                "metric".into(),
                3.0,
                "{\"a\": 1}".into()
            ),
            (
                "2024-01-01 10:05:00".into(),
                "metric".into(),
                4.0,
                String::new()
            ),
            (
                "2024-01-01 10:05:00".into(),
                "score".into(),
                0.3,
                String::new()
            ),
        ]
    );
    // Upserts work on it now (they name the key the original's table lacked).
    store
        .upsert_metrics(
            "metrics",
            &[row("m", "2024-01-01 10:05:00", MetricType::Score, 0.9)],
        )
        .await
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 3);
    store
        .upsert_metrics(
            "metrics",
            &[row("m", "2024-01-01 10:40:00", MetricType::Metric, 1.0)],
        )
        .await
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM audit").await, 1);
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 4);
    // A batch's own table is taken over the first time the app uses it.
    store
        .upsert_metrics(
            "metrics_python_ingest_simple",
            &[row("m", "2024-01-01 10:20:00", MetricType::Metric, 5.0)],
        )
        .await
        .unwrap();
    assert_eq!(
        count(&store, "SELECT count(*) FROM metrics_python_ingest_simple").await,
        4
    );
    // Opening again changes nothing.
    drop(store);
    let store = Store::open(&DatabaseLocation::Local { path })
        .await
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, 4);
}

#[tokio::test]
async fn a_metrics_table_missing_a_column_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    {
        let db = libsql::Builder::new_local(&path).build().await.unwrap();
        let conn = db.connect().unwrap();
        conn.execute(
            "CREATE TABLE metrics (metric_timestamp TEXT, metric_name TEXT, metric_value REAL)",
            (),
        )
        .await
        .unwrap();
    }
    let err = Store::open(&DatabaseLocation::Local { path })
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("metrics table `metrics`") && text.contains("no column `metric_batch`"),
        "{text}"
    );
}
