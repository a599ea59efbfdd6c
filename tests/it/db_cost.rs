//! What a job costs on a libSQL server (what Turso bills: statements, rows read and written),
//! counted by the server itself: the same jobs on 20 and on 200 metrics take the same number
//! of statements (no query per metric or per row), and through an embedded replica the jobs'
//! reads do not reach the server at all.

use anomstack::bench::pipeline::{self, ServerCounts, Target};
use anomstack::config::BatchJob;

use crate::store_remote::{remote, replica};
use crate::support::sqld::Sqld;

async fn counts(metrics: usize, on_replica: bool) -> Vec<(BatchJob, ServerCounts)> {
    let server = Sqld::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = if on_replica {
        replica(&server, "", dir.path().join("replica.db"))
    } else {
        remote(&server, "")
    };
    let figures = pipeline::run(
        dir.path(),
        "disable_ingest: true\n",
        metrics,
        100,
        7,
        &Target {
            database: Some(database),
            server_stats: Some(server.admin_url.clone()),
        },
    )
    .await
    .unwrap();
    figures
        .jobs
        .iter()
        .map(|f| (f.job, f.server.expect("server counts")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_per_job_do_not_grow_with_the_metrics() {
    let few = counts(20, false).await;
    let many = counts(200, false).await;
    for ((job, a), (_, b)) in few.iter().zip(&many) {
        assert!(
            b.statements <= a.statements + 1,
            "{job:?}: {} statements for 20 metrics, {} for 200",
            a.statements,
            b.statements
        );
        assert!(b.statements <= 10, "{job:?}: {b:?}");
    }
    // Train reads each stored row (100 per metric) at most twice on the server (index and
    // table); score reads a window of 25 points and their scores per metric, not the history.
    let train = many[0].1;
    assert!(train.rows_read <= 2 * 200 * 100 + 1000, "{train:?}");
    let score = many[1].1;
    assert!(score.rows_read <= 200 * 25 * 8, "{score:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn through_a_replica_the_jobs_reads_stay_local() {
    for (job, c) in counts(50, true).await {
        assert!(
            c.rows_read <= 10,
            "{job:?} read {} rows on the server",
            c.rows_read
        );
    }
}
