//! Faults of a database over the network, against a real libSQL server (`sqld`): the server
//! crashing and coming back in the middle of a job or across a cron tick, a server that stops
//! answering, and a primary restored from a backup or replaced by another database.

use std::sync::Arc;
use std::time::Duration;

use anomstack::app::Shutdown;
use anomstack::jobs::{Services, Trigger};
use anomstack::queue::{self, worker};
use anomstack::store::Store;
use chrono::Utc;

use crate::store_local::{count, wait_for};
use crate::store_remote::{remote, replica};
use crate::support::MetricsDir;
use crate::support::sqld::Sqld;

/// A program that takes two seconds, then prints 3 metrics × 48 hourly points.
const SLOW_SOURCE: &str = r#"#!/bin/sh
sleep 2
echo 'metric_timestamp,metric_name,metric_value'
awk 'BEGIN { for (i = 0; i < 144; i++) printf "2026-01-%02d %02d:00:00,m%d,%d\n", 1 + int(i / 3 / 24), int(i / 3) % 24, i % 3, (i * 7) % 11 }'
"#;

/// sqld crashes while a pipeline is fetching and is back three seconds later: the pipeline's
/// failed attempt is recorded once it can be, the job is retried soon, its rows are there
/// once, and the queue entry ends done (not stuck "running" on a live worker).
#[tokio::test(flavor = "multi_thread")]
async fn the_database_crashing_mid_job_loses_and_duplicates_nothing() {
    crash_mid_job(false).await;
}

/// The same on an embedded replica, whose writes go to the crashed primary.
#[tokio::test(flavor = "multi_thread")]
async fn the_primary_crashing_mid_job_of_a_replica_loses_and_duplicates_nothing() {
    crash_mid_job(true).await;
}

async fn crash_mid_job(on_replica: bool) {
    let mut server = Sqld::start().await;
    let dir = MetricsDir::new();
    let script = dir.write("slow.sh", SLOW_SOURCE);
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir.write(
        "b.yaml",
        "metric_batch: b\ningest_cmd: ./slow.sh\ntrain_min_n: 10\n",
    );
    let config = Arc::new(dir.load_ok(&[]));
    let location = if on_replica {
        replica(&server, "", dir.tmp.path().join("replica.db"))
    } else {
        remote(&server, "")
    };
    let store = Store::open(&location).await.unwrap();
    let (fire, shutdown) = Shutdown::new();
    let env = Arc::new(worker::WorkerEnv {
        services: Services::local(store.clone()),
        config: anomstack::config::LiveConfig::fixed((*config).clone()),
        worker_id: worker::new_worker_id(),
        kill_after: Duration::from_secs(120),
        stale_after: Duration::from_secs(20),
        held: Default::default(),
    });
    let w = tokio::spawn(worker::run(env, 1, Duration::from_secs(5), shutdown.wait()));
    queue::enqueue(
        &store,
        "b",
        "pipeline".parse().unwrap(),
        Trigger::Admin,
        Utc::now(),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'running'",
        1,
        30,
    )
    .await;
    server.stop().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.run().await;

    wait_for(
        &store,
        "SELECT count(*) FROM job_queue WHERE status = 'done'",
        1,
        90,
    )
    .await;
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'metric'"
        )
        .await,
        144,
        "each row once"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(DISTINCT job) FROM job_runs WHERE job IN ('train', 'score', 'alert') AND status = 'succeeded'"
        )
        .await,
        3,
        "the rest of the pipeline ran after the retry"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE job = 'ingest' AND status = 'failed' AND error LIKE '%the database did not answer%'"
        )
        .await,
        1,
        "the attempt the crash broke is recorded as failed, saying why"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_runs WHERE status = 'running'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM job_runs WHERE job = 'ingest'").await,
        2,
        "run again once"
    );
    assert_eq!(
        count(&store, "SELECT attempts FROM job_queue").await,
        1,
        "an attempt the database's absence broke does not count"
    );
    fire.send(true).unwrap();
    w.await.unwrap();
}

/// A cron tick that falls while the database is down is queued when it is back, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_tick_during_an_outage_is_queued_when_the_database_is_back() {
    use chrono::Timelike;
    let mut server = Sqld::start().await;
    let dir = MetricsDir::new();
    dir.write(
        "b.yaml",
        "metric_batch: b\ningest_cron_schedule: \"* * * * *\"\ningest_default_schedule_status: RUNNING\ningest_sql: SELECT 1\n",
    );
    let config = anomstack::config::LiveConfig::fixed(dir.load_ok(&[]));
    let store = Store::open(&remote(&server, "")).await.unwrap();
    // Down from 5 s before a minute until 3 s after it.
    let second = Utc::now().second();
    if second > 50 {
        tokio::time::sleep(Duration::from_secs(u64::from(60 - second) + 1)).await;
    }
    let (fire, shutdown) = Shutdown::new();
    let scheduler = tokio::spawn(queue::scheduler::run(
        store.clone(),
        config,
        shutdown.wait(),
    ));
    let to_tick = 60 - Utc::now().second();
    tokio::time::sleep(Duration::from_secs(u64::from(to_tick.saturating_sub(5)))).await;
    server.stop().await;
    let tick = Utc::now()
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
        + chrono::Duration::minutes(1);
    tokio::time::sleep(Duration::from_secs(8)).await;
    server.run().await;
    wait_for(
        &store,
        &format!(
            "SELECT count(*) FROM job_queue WHERE trigger = 'schedule' AND run_ts = '{}'",
            tick.format("%Y-%m-%d %H:%M:%S")
        ),
        1,
        20,
    )
    .await;
    fire.send(true).unwrap();
    scheduler.await.unwrap();
    assert_eq!(
        count(&store, "SELECT count(*) FROM job_queue").await,
        1,
        "queued once"
    );
}

/// A server that takes requests and stops answering: each statement gives up at the time
/// limit with an error naming it, counts as an unreachable database (so jobs are retried and
/// records wait), and the next statement after it answers again works.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_stops_answering_fails_at_the_named_time_limit() {
    let server = Sqld::start().await;
    let proxy = crate::support::stall::StallProxy::start(&server.url).await;
    let location = anomstack::config::DatabaseLocation::Remote {
        url: proxy.url.clone(),
        token: anomstack::config::Secret::new(""),
    };
    let store = Store::open_with(&location, Duration::from_secs(2))
        .await
        .unwrap();
    store.ping().await.unwrap();

    proxy.stall(true);
    let started = std::time::Instant::now();
    let err = store
        .enqueue("b", "ingest", "admin", Utc::now(), 3)
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert!(err.is_unavailable(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("cannot queue ingest of `b`")
            && text.contains("no answer within 2 s (ANOMSTACK_DB_TIMEOUT_SECONDS)"),
        "{text}"
    );

    proxy.stall(false);
    store.ping().await.unwrap();
}

/// The primary goes back in time twice. Restored from an older backup of itself, the
/// replica follows it back at the next sync. Replaced by another database (recreated empty at
/// the same address), the running replica says so and why, and the next start sets the old
/// replica file aside (kept) and pulls and migrates a new one, which takes writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_follows_a_restored_primary_and_is_rebuilt_for_a_replaced_one() {
    let mut server = Sqld::start().await;
    let dir = MetricsDir::new();
    let path = dir.tmp.path().join("replica.db");
    let location = replica(&server, "", path.clone());
    let store = Store::open(&location).await.unwrap();
    let queue = |n| {
        let store = store.clone();
        async move { store.enqueue(n, "ingest", "admin", Utc::now(), 3).await }
    };
    queue("a").await.unwrap();
    store.sync().await.unwrap();

    // A backup, then more writes, then the backup restored.
    let data = server.data_dir().join("data.sqld");
    let backup = dir.tmp.path().join("backup.sqld");
    server.stop().await;
    copy_dir(&data, &backup);
    server.run().await;
    for n in ["b", "c"] {
        queue(n).await.unwrap();
    }
    store.sync().await.unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM job_queue").await, 3);
    server.stop().await;
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    server.run().await;
    store.sync().await.unwrap();
    assert_eq!(
        count(&store, "SELECT count(*) FROM job_queue").await,
        1,
        "the replica follows the restored primary"
    );

    // Another database at the same address.
    server.stop().await;
    std::fs::remove_dir_all(&data).unwrap();
    server.run().await;
    let err = store.sync().await.unwrap_err();
    assert!(
        matches!(err, anomstack::store::StoreError::ReplicaReplaced { .. })
            && err.to_string().contains("restart anomstack"),
        "{err}"
    );
    assert!(store.sync_status().unwrap().error.is_some());
    drop(store);

    let store = Store::open(&location).await.unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM job_queue").await, 0);
    store
        .enqueue("d", "ingest", "admin", Utc::now(), 3)
        .await
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM job_queue").await, 1);
    let aside = std::fs::read_dir(dir.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("replica.db.replaced-"))
        .expect("the old replica is kept");
    let old = Store::open_unmigrated(&anomstack::config::DatabaseLocation::Local {
        path: aside.join("replica.db"),
    })
    .await
    .unwrap();
    assert_eq!(count(&old, "SELECT count(*) FROM job_queue").await, 1);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}
