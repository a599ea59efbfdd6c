//! The queue across real processes sharing one database file: two workers run each job once,
//! and a worker killed mid-ingest leaves all or none of its rows, a failed run, and a requeued
//! job that the next worker completes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anomstack::config::DatabaseLocation;
use anomstack::store::Store;

use crate::store_local::{count, wait_for};
use crate::support::MetricsDir;

/// Starts `anomstack serve` in `dir` with a clean environment plus `env`, on a free port, and
/// waits for it to listen.
fn start_serve(dir: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_anomstack"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("ANOMSTACK_PORT", "0")
        .env("ANOMSTACK_HOST", "127.0.0.1");
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn anomstack");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut told = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !told && line.contains("listening on") {
                let _ = tx.send(());
                told = true;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the server starts");
    child
}

/// Starts `anomstack serve` as a worker only (no scheduler) on the file `db`.
fn start_worker(dir: &Path, db: &Path) -> Child {
    start_serve(
        dir,
        &[
            ("ANOMSTACK_SQLITE_PATH", db.as_os_str()),
            ("ANOMSTACK_SCHEDULER", "false".as_ref()),
            ("ANOMSTACK_WORKER_CONCURRENCY", "2".as_ref()),
            ("ANOMSTACK_WORKER_STALE_SECONDS", "2".as_ref()),
        ],
    )
}

fn kill(child: &mut Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_worker_processes_run_each_queued_job_exactly_once() {
    let dir = MetricsDir::new();
    for b in 0..8 {
        dir.write(
            &format!("b{b}.yaml"),
            &format!("metric_batch: b{b}\ningest_sql: SELECT datetime('now') AS metric_timestamp, 'm' AS metric_name, {b} AS metric_value\n"),
        );
    }
    let db = dir.tmp.path().join("app.db");
    let mut a = start_worker(dir.tmp.path(), &db);
    let mut b = start_worker(dir.tmp.path(), &db);
    let store = Store::open(&DatabaseLocation::Local { path: db.clone() })
        .await
        .unwrap();
    // 48 jobs, six of each batch's ingest: duplicates must run one after another, each once.
    let mut sql = String::from(
        "INSERT INTO job_queue (batch, job, trigger, run_ts, run_after, created_at) VALUES ",
    );
    let mut values = Vec::new();
    for round in 0..6 {
        for b in 0..8 {
            values.push(format!(
                "('b{b}', 'ingest', 'api', '2026-01-01 00:0{round}:00', '2000-01-01 00:00:00', '2000-01-01 00:00:00')"
            ));
        }
    }
    sql.push_str(&values.join(", "));
    store.execute(&sql, "test").await.unwrap();
    wait_for(
        &store,
        "SELECT count(*) FROM job_queue WHERE status = 'done'",
        48,
        90,
    )
    .await;
    assert_eq!(
        count(&store, "SELECT count(*) FROM job_runs").await,
        48,
        "one run per queued job"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE status = 'succeeded'"
        )
        .await,
        48
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM job_queue WHERE attempts <> 1").await,
        0,
        "no job was taken twice"
    );
    let workers = count(&store, "SELECT count(DISTINCT lock_by) FROM job_queue").await;
    assert!(workers >= 1);
    kill(&mut a, "-TERM");
    kill(&mut b, "-TERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_ingest_leaves_all_or_none_and_the_job_is_redone() {
    const ROWS: i64 = 400_000;
    let dir = MetricsDir::new();
    dir.write(
        "big.yaml",
        &format!(
            "metric_batch: big\ningest_timeout_seconds: 600\ningest_sql: >\n  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})\n  SELECT '2026-01-01 00:00:00' AS metric_timestamp, 'm' || i AS metric_name, i AS metric_value FROM n\n",
            ROWS - 1
        ),
    );
    let db = dir.tmp.path().join("app.db");
    let mut first = start_worker(dir.tmp.path(), &db);
    let store = Store::open(&DatabaseLocation::Local { path: db.clone() })
        .await
        .unwrap();
    anomstack::queue::enqueue(
        &store,
        "big",
        "ingest".parse().unwrap(),
        anomstack::jobs::Trigger::Api,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'running'",
        1,
        60,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill(&mut first, "-KILL");
    let after_kill = count(&store, "SELECT count(*) FROM metrics").await;
    assert!(
        after_kill == 0 || after_kill == ROWS,
        "{after_kill} rows: not all or none"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE status = 'succeeded'"
        )
        .await,
        0,
        "the kill happened during the ingest"
    );

    let mut second = start_worker(dir.tmp.path(), &db);
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'succeeded'",
        1,
        120,
    )
    .await;
    assert_eq!(count(&store, "SELECT count(*) FROM metrics").await, ROWS);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE status = 'failed' AND error LIKE '%requeued%'"
        )
        .await,
        1,
        "the killed run is recorded as failed"
    );
    kill(&mut second, "-TERM");
}

/// Starts `anomstack serve` (scheduler and workers) on an embedded replica of the sqld at
/// `url`, as one machine of several would run.
fn start_replica_server(dir: &Path, url: &str, token: &str, replica: &Path) -> Child {
    let metrics = dir.join("metrics");
    start_serve(
        dir,
        &[
            ("ANOMSTACK_METRICS_DIR", metrics.as_os_str()),
            ("ANOMSTACK_IGNORE_EXAMPLES", "true".as_ref()),
            ("ANOMSTACK_TURSO_DATABASE_URL", url.as_ref()),
            ("ANOMSTACK_TURSO_AUTH_TOKEN", token.as_ref()),
            ("ANOMSTACK_TURSO_REPLICA_PATH", replica.as_os_str()),
            ("ANOMSTACK_TURSO_SYNC_SECONDS", "1".as_ref()),
            ("ANOMSTACK_WORKER_STALE_SECONDS", "5".as_ref()),
        ],
    )
}

/// Three machines, each with its own embedded replica of one libSQL server (what Turso runs),
/// all scheduling every-minute ingests of four batches: each cron slot is queued once and
/// run once, no row is written twice, and every run is recorded. Then the machine running a
/// long ingest is killed (SIGKILL) and another finishes the job.
#[tokio::test(flavor = "multi_thread")]
async fn three_servers_on_replicas_of_one_database_run_each_cron_slot_once() {
    let server = crate::support::sqld::Sqld::start_with_auth().await;
    let token = server.token();
    let dir = MetricsDir::new();
    for b in 0..4 {
        dir.write(
            &format!("b{b}.yaml"),
            &format!(
                "metric_batch: b{b}\ningest_cron_schedule: \"* * * * *\"\ningest_default_schedule_status: RUNNING\ningest_sql: SELECT {{{{ run_ts | sql_quote }}}} AS metric_timestamp, 'm' AS metric_name, {b} AS metric_value\n"
            ),
        );
    }
    // Not scheduled: queued by hand below, to kill the machine running it.
    const BIG: i64 = 60_000;
    dir.write(
        "big.yaml",
        &format!(
            "metric_batch: big\ningest_timeout_seconds: 600\ningest_sql: >\n  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})\n  SELECT '2026-01-01 00:00:00' AS metric_timestamp, 'm' || i AS metric_name, i AS metric_value FROM n\n",
            BIG - 1
        ),
    );
    let mut servers: Vec<Child> = (0..3)
        .map(|i| {
            start_replica_server(
                dir.tmp.path(),
                &server.url,
                &token,
                &dir.tmp.path().join(format!("replica-{i}.db")),
            )
        })
        .collect();
    let store = Store::open(&crate::store_remote::remote(&server, &token))
        .await
        .unwrap();
    // Two whole minutes of slots for every batch (up to about three minutes of waiting).
    wait_for(
        &store,
        "SELECT CASE WHEN count(*) = 4 THEN min(n) ELSE 0 END FROM (SELECT count(*) AS n FROM job_queue WHERE trigger = 'schedule' AND status = 'done' GROUP BY batch)",
        2,
        200,
    )
    .await;

    // A machine killed mid-job: another finishes the job, and its rows are there once.
    anomstack::queue::enqueue(
        &store,
        "big",
        "ingest".parse().unwrap(),
        anomstack::jobs::Trigger::Api,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE batch = 'big' AND status = 'running'",
        1,
        60,
    )
    .await;
    let owner = store
        .query(
            "SELECT lock_by FROM job_queue WHERE batch = 'big' AND status = 'running'",
            "test",
        )
        .await
        .unwrap();
    let owner = format!("{:?}", owner.rows);
    let victim = servers
        .iter()
        .position(|c| owner.contains(&format!("-{}-", c.id())))
        .unwrap_or_else(|| panic!("which server runs it? {owner}"));
    let mut killed = servers.remove(victim);
    kill(&mut killed, "-KILL");
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE batch = 'big' AND status = 'succeeded'",
        1,
        180,
    )
    .await;
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_batch = 'big'"
        )
        .await,
        BIG
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_queue WHERE batch = 'big' AND status = 'done'"
        )
        .await,
        1
    );

    for s in &mut servers {
        kill(s, "-TERM");
    }
    assert_eq!(
        count(
            &store,
            "SELECT count(DISTINCT batch) FROM job_queue WHERE trigger = 'schedule'"
        )
        .await,
        4
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM (SELECT batch, run_ts FROM job_queue WHERE trigger = 'schedule' GROUP BY batch, job, run_ts HAVING count(*) > 1)"
        )
        .await,
        0,
        "a slot queued twice"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_queue q WHERE q.trigger = 'schedule' AND q.status = 'done' AND (q.attempts <> 1 OR (SELECT count(*) FROM job_runs r WHERE r.queue_id = q.id) <> 1)"
        )
        .await,
        0,
        "a slot run twice, or not recorded"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE batch <> 'big' AND status <> 'succeeded' AND status <> 'running'"
        )
        .await,
        0,
        "every scheduled run succeeded"
    );
    // One metric row per batch and slot run.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'metric' AND metric_batch <> 'big'"
        )
        .await,
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE job = 'ingest' AND batch <> 'big' AND status = 'succeeded'"
        )
        .await,
    );
}
