//! The job queue in one process: coalescing, exclusivity, the worker running jobs with time
//! limits, retries, chaining and orphan recovery.

use std::sync::Arc;
use std::time::Duration;

use anomstack::app::Shutdown;
use anomstack::config::DatabaseLocation;
use anomstack::jobs::Services;
use anomstack::jobs::Trigger;
use anomstack::queue::{self, worker};
use anomstack::store::Store;
use chrono::Utc;

use crate::store_local::count;
use crate::support::MetricsDir;

async fn setup(batch_yaml: &str) -> (MetricsDir, Arc<anomstack::config::Config>, Store) {
    setup_with(batch_yaml, &[]).await
}

/// With extra files (name, content, executable) written next to the batch first.
async fn setup_with(
    batch_yaml: &str,
    files: &[(&str, &str)],
) -> (MetricsDir, Arc<anomstack::config::Config>, Store) {
    let dir = MetricsDir::new();
    for (name, text) in files {
        let path = dir.write(name, text);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    dir.write("b.yaml", batch_yaml);
    let config = Arc::new(dir.load_ok(&[]));
    let store = Store::open(&DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    (dir, config, store)
}

fn env(
    store: &Store,
    config: &Arc<anomstack::config::Config>,
    kill_after: Duration,
) -> Arc<worker::WorkerEnv> {
    Arc::new(worker::WorkerEnv {
        services: Services::local(store.clone()),
        config: anomstack::config::LiveConfig::fixed((**config).clone()),
        worker_id: worker::new_worker_id(),
        kill_after,
        stale_after: Duration::from_secs(1),
        held: Default::default(),
    })
}

/// [`crate::store_local::wait_for`] for at most 30 s.
async fn wait_for(store: &Store, sql: &str, want: i64) {
    crate::store_local::wait_for(store, sql, want, 30).await;
}

const SIMPLE: &str = "metric_batch: b\ningest_sql: SELECT datetime('now') AS metric_timestamp, 'm' AS metric_name, 1.0 AS metric_value\n";

#[tokio::test]
async fn waiting_duplicates_coalesce_and_one_run_per_batch_and_job_at_a_time() {
    let (_dir, _config, store) = setup(SIMPLE).await;
    let now = Utc::now();
    let a = queue::enqueue(&store, "b", "ingest".parse().unwrap(), Trigger::Admin, now)
        .await
        .unwrap();
    let b = queue::enqueue(&store, "b", "ingest".parse().unwrap(), Trigger::Admin, now)
        .await
        .unwrap();
    assert!(
        a.is_some() && b.is_none(),
        "a waiting duplicate is coalesced"
    );
    let first = store.claim_job("w1").await.unwrap().unwrap();
    assert_eq!(
        (first.batch.as_str(), first.job.as_str(), first.attempts),
        ("b", "ingest", 1)
    );
    // While it runs, another ingest of b may queue but not start.
    queue::enqueue(&store, "b", "ingest".parse().unwrap(), Trigger::Admin, now)
        .await
        .unwrap()
        .unwrap();
    assert!(store.claim_job("w2").await.unwrap().is_none());
    // Other jobs of b, and other batches, are free to start.
    queue::enqueue(&store, "b", "train".parse().unwrap(), Trigger::Admin, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.claim_job("w2").await.unwrap().unwrap().job, "train");
    store.finish_job(first.id, "w1", None).await.unwrap();
    assert_eq!(store.claim_job("w2").await.unwrap().unwrap().job, "ingest");
    // A scheduled tick is queued once.
    store
        .enqueue("b", "delete", "schedule", now, 3)
        .await
        .unwrap()
        .unwrap();
    store.claim_job("w3").await.unwrap().unwrap();
    assert!(
        store
            .enqueue("b", "delete", "schedule", now, 3)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_worker_runs_queued_jobs_records_them_and_chains_after_ingest() {
    let (_dir, config, store) = setup(&format!("{SIMPLE}chain_after_ingest: true\n")).await;
    let (fire, shutdown) = Shutdown::new();
    let w = tokio::spawn(worker::run(
        env(&store, &config, Duration::from_secs(60)),
        2,
        Duration::from_secs(5),
        shutdown.wait(),
    ));
    queue::enqueue(
        &store,
        "b",
        "ingest".parse().unwrap(),
        Trigger::Admin,
        Utc::now(),
    )
    .await
    .unwrap();
    // ingest, then score, alert and change chained one after another.
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE job = 'change' AND status = 'succeeded'",
        1,
    )
    .await;
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM metrics WHERE metric_type = 'metric'"
        )
        .await,
        1
    );
    let runs = store.recent_runs(Some("b"), 10).await.unwrap();
    let order: Vec<(&str, &str)> = runs
        .iter()
        .rev()
        .map(|r| (r.job.as_str(), r.trigger.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("ingest", "admin"),
            ("score", "chain"),
            ("alert", "chain"),
            ("change", "chain")
        ]
    );
    fire.send(true).unwrap();
    w.await.unwrap();
    assert_eq!(
        count(&store, "SELECT count(*) FROM queue_workers").await,
        0,
        "the worker unregisters"
    );
}

#[tokio::test]
async fn a_job_past_its_time_limit_is_cancelled_and_recorded_as_timed_out() {
    let (_dir, config, store) = setup_with(
        "metric_batch: b\ningest_cmd: ./slow.sh\n",
        &[("slow.sh", "#!/bin/sh\nsleep 30\n")],
    )
    .await;
    let (fire, shutdown) = Shutdown::new();
    let w = tokio::spawn(worker::run(
        env(&store, &config, Duration::from_millis(800)),
        1,
        Duration::from_secs(5),
        shutdown.wait(),
    ));
    queue::enqueue(
        &store,
        "b",
        "ingest".parse().unwrap(),
        Trigger::Admin,
        Utc::now(),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'timed_out'",
        1,
    )
    .await;
    wait_for(
        &store,
        "SELECT count(*) FROM job_queue WHERE status = 'failed'",
        1,
    )
    .await;
    let run = &store.recent_runs(Some("b"), 1).await.unwrap()[0];
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("cancelled"),
        "{run:?}"
    );
    fire.send(true).unwrap();
    w.await.unwrap();
}

#[tokio::test]
async fn a_failed_job_is_retried_later_with_backoff() {
    let (_dir, config, store) =
        setup("metric_batch: b\ningest_sql: SELECT * FROM missing_table\n").await;
    let (fire, shutdown) = Shutdown::new();
    let w = tokio::spawn(worker::run(
        env(&store, &config, Duration::from_secs(60)),
        1,
        Duration::from_secs(5),
        shutdown.wait(),
    ));
    queue::enqueue(
        &store,
        "b",
        "ingest".parse().unwrap(),
        Trigger::Admin,
        Utc::now(),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'failed'",
        1,
    )
    .await;
    wait_for(&store, "SELECT count(*) FROM job_queue WHERE status = 'pending' AND attempts = 1 AND last_error LIKE '%missing_table%'", 1).await;
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_queue WHERE run_after > datetime('now', '+20 seconds')"
        )
        .await,
        1,
        "the retry waits about 30 s"
    );
    fire.send(true).unwrap();
    w.await.unwrap();
}

#[tokio::test]
async fn jobs_of_a_dead_worker_are_requeued_and_its_runs_marked_failed() {
    let (_dir, config, store) = setup(SIMPLE).await;
    queue::enqueue(
        &store,
        "b",
        "ingest".parse().unwrap(),
        Trigger::Admin,
        Utc::now(),
    )
    .await
    .unwrap();
    // A worker took the job, started its run, and died without a word.
    store.heartbeat("dead-worker").await.unwrap();
    let claimed = store.claim_job("dead-worker").await.unwrap().unwrap();
    store
        .start_run("b", "ingest", "admin", Some(claimed.id))
        .await
        .unwrap();
    // A run of the same batch and job by hand, alive in another process: not touched.
    let by_hand = store.start_run("b", "ingest", "cli", None).await.unwrap();
    store
        .execute(
            "UPDATE queue_workers SET last_seen = '2000-01-01 00:00:00'",
            "test",
        )
        .await
        .unwrap();
    let (fire, shutdown) = Shutdown::new();
    let w = tokio::spawn(worker::run(
        env(&store, &config, Duration::from_secs(60)),
        1,
        Duration::from_secs(5),
        shutdown.wait(),
    ));
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'succeeded'",
        1,
    )
    .await;
    let runs = store.recent_runs(Some("b"), 10).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(
        store.run(by_hand).await.unwrap().unwrap().status,
        anomstack::store::RunStatus::Running
    );
    let dead = runs
        .iter()
        .find(|r| r.status == anomstack::store::RunStatus::Failed)
        .unwrap();
    assert!(
        dead.error
            .as_deref()
            .unwrap_or_default()
            .contains("requeued"),
        "{dead:?}"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_queue WHERE status = 'done'"
        )
        .await,
        1
    );
    fire.send(true).unwrap();
    w.await.unwrap();
}

#[tokio::test]
async fn a_pipeline_runs_alone_and_run_now_hastens_a_waiting_retry() {
    let (_dir, _config, store) = setup(SIMPLE).await;
    let (p, joined) = queue::enqueue_now(&store, "b", "pipeline".parse().unwrap(), Trigger::Admin)
        .await
        .unwrap();
    assert!(!joined);
    assert_eq!(store.claim_job("w1").await.unwrap().unwrap().id, p);
    queue::enqueue_now(&store, "b", "train".parse().unwrap(), Trigger::Admin)
        .await
        .unwrap();
    assert!(
        store.claim_job("w2").await.unwrap().is_none(),
        "no job of b starts beside its pipeline"
    );
    store.finish_job(p, "w1", None).await.unwrap();
    let train = store.claim_job("w2").await.unwrap().unwrap();
    assert_eq!(train.job, "train");
    queue::enqueue_now(&store, "b", "pipeline".parse().unwrap(), Trigger::Admin)
        .await
        .unwrap();
    assert!(
        store.claim_job("w1").await.unwrap().is_none(),
        "nor a pipeline beside another job of b"
    );
    store.finish_job(train.id, "w2", None).await.unwrap();
    let pipeline = store.claim_job("w1").await.unwrap().unwrap();
    assert_eq!(pipeline.job, "pipeline");
    store.finish_job(pipeline.id, "w1", None).await.unwrap();

    // A failed ingest waits out its retry delay; "run now" joins it and makes it due.
    let (id, _) = queue::enqueue_now(&store, "b", "ingest".parse().unwrap(), Trigger::Admin)
        .await
        .unwrap();
    let item = store.claim_job("w3").await.unwrap().unwrap();
    assert_eq!(item.id, id);
    store
        .retry_job(id, "w3", "boom", chrono::Duration::minutes(30), true)
        .await
        .unwrap();
    assert!(
        store.claim_job("w3").await.unwrap().is_none(),
        "waiting out the delay"
    );
    let (again, joined) = queue::enqueue_now(&store, "b", "ingest".parse().unwrap(), Trigger::Api)
        .await
        .unwrap();
    assert_eq!((again, joined), (id, true));
    assert_eq!(store.claim_job("w3").await.unwrap().unwrap().id, id);
}

#[tokio::test]
async fn a_shutdown_ends_the_runs_it_interrupts_and_requeues_their_jobs() {
    let (_dir, config, store) = setup_with(
        "metric_batch: b\ningest_cmd: ./slow.sh\n",
        &[("slow.sh", "#!/bin/sh\nsleep 30\n")],
    )
    .await;
    let (fire, shutdown) = Shutdown::new();
    let w = tokio::spawn(worker::run(
        env(&store, &config, Duration::from_secs(60)),
        1,
        Duration::from_millis(300),
        shutdown.wait(),
    ));
    queue::enqueue(
        &store,
        "b",
        "ingest".parse().unwrap(),
        Trigger::Admin,
        Utc::now(),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'running'",
        1,
    )
    .await;
    fire.send(true).unwrap();
    w.await.unwrap();
    let run = &store.recent_runs(Some("b"), 1).await.unwrap()[0];
    assert_eq!(run.status, anomstack::store::RunStatus::Failed, "{run:?}");
    assert!(run.finished_at.is_some(), "{run:?}");
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("shutdown"),
        "{run:?}"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM job_queue WHERE status = 'pending' AND attempts = 0"
        )
        .await,
        1,
        "the job waits for the next start, its attempt not counted"
    );
}

/// Runs outside the queue (a push, `anomstack run`) beat while they work: one whose beats
/// stopped for longer than `RUN_SILENT_AFTER` belongs to a killed process and is ended
/// within a minute; one still beating, however old, is left running.
#[tokio::test]
async fn runs_of_a_killed_process_are_ended_by_the_next_worker_within_a_minute() {
    let (_dir, config, store) = setup(SIMPLE).await;
    let silent = anomstack::jobs::RUN_SILENT_AFTER.as_secs() + 5;
    // A push killed mid-flight: started a minute ago, last beat as long ago.
    let killed = store.start_run("b", "ingest", "api", None).await.unwrap();
    // A long train in another live process: started an hour ago, beat just now.
    let beating = store.start_run("b", "train", "cli", None).await.unwrap();
    for sql in [
        format!(
            "UPDATE job_runs SET started_at = datetime('now', '-{silent} seconds'), \
             heartbeat_at = datetime('now', '-{silent} seconds') WHERE id = {killed}"
        ),
        format!("UPDATE job_runs SET started_at = datetime('now', '-1 hour') WHERE id = {beating}"),
    ] {
        store.execute(&sql, "test").await.unwrap();
    }
    store.beat_run(beating).await.unwrap();
    let fresh = store.start_run("b", "score", "cli", None).await.unwrap();
    let (fire, shutdown) = Shutdown::new();
    let w = tokio::spawn(worker::run(
        env(&store, &config, Duration::from_secs(600)),
        1,
        Duration::from_secs(5),
        shutdown.wait(),
    ));
    wait_for(
        &store,
        "SELECT count(*) FROM job_runs WHERE status = 'failed'",
        1,
    )
    .await;
    fire.send(true).unwrap();
    w.await.unwrap();
    let killed = store.run(killed).await.unwrap().unwrap();
    assert!(
        killed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("no end was recorded"),
        "{killed:?}"
    );
    for (id, what) in [(beating, "still beating"), (fresh, "too young to beat")] {
        assert_eq!(
            store.run(id).await.unwrap().unwrap().status,
            anomstack::store::RunStatus::Running,
            "a run {what} may still be going"
        );
    }
}

#[tokio::test]
async fn history_older_than_the_retention_is_pruned_and_the_rest_kept() {
    let (_dir, _config, store) = setup(SIMPLE).await;
    for (age, status) in [(40, "succeeded"), (40, "running"), (5, "failed")] {
        store
            .execute(
                &format!(
                    "INSERT INTO job_runs (batch, job, trigger, status, started_at) \
                     VALUES ('b', 'ingest', 'schedule', '{status}', datetime('now', '-{age} days'))"
                ),
                "test",
            )
            .await
            .unwrap();
    }
    for (age, status) in [(40, "done"), (40, "failed"), (40, "pending"), (5, "done")] {
        store
            .execute(
                &format!(
                    "INSERT INTO job_queue (batch, job, trigger, run_ts, status, run_after, created_at, finished_at) \
                     VALUES ('b', 'j{age}{status}', 'schedule', datetime('now'), '{status}', datetime('now'), \
                             datetime('now', '-{age} days'), datetime('now', '-{age} days'))"
                ),
                "test",
            )
            .await
            .unwrap();
    }
    for age in [40, 5] {
        store
            .execute(
                &format!(
                    "INSERT INTO notifications (created_at, batch, metric, kind, channel, status) \
                     VALUES (datetime('now', '-{age} days'), 'b', 'm', 'alert', 'email', 'sent')"
                ),
                "test",
            )
            .await
            .unwrap();
    }
    let pruned = queue::housekeeping::prune(&store, Duration::from_secs(30 * 86_400))
        .await
        .unwrap();
    assert_eq!(
        pruned,
        anomstack::store::Pruned {
            runs: 1,
            queue: 2,
            notifications: 1
        }
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM job_runs").await,
        2,
        "a running run is kept"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM job_queue").await,
        2,
        "a pending job is kept"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM notifications").await, 1);
    // A second pass finds nothing; a retention too long to compute keeps everything.
    assert_eq!(
        queue::housekeeping::prune(&store, Duration::from_secs(30 * 86_400))
            .await
            .unwrap(),
        anomstack::store::Pruned::default()
    );
    assert_eq!(
        queue::housekeeping::prune(&store, Duration::MAX)
            .await
            .unwrap(),
        anomstack::store::Pruned::default()
    );
}
