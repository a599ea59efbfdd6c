//! `/metrics`: Prometheus text exposition of what an operator watches: job runs by kind and
//! status with their durations and rows, queue depth, configured batches and build info.
//! Totals come from the run history in the database, so every process reports the same.

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::store::{QueueDepth, RunTotals};
use crate::version;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let totals = state.store.run_totals().await;
    let depth = state.store.queue_depth().await;
    let sent = state.store.notification_totals().await;
    let (totals, depth, sent) = match (totals, depth, sent) {
        (Ok(t), Ok(d), Ok(n)) => (t, d, n),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::error!(error = %e, "/metrics: cannot read the run history");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response();
        }
    };
    let batches = state.config.current().batches.len();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        {
            let mut text = exposition(&totals, depth, batches);
            notifications(&mut text, &sent);
            replica(&mut text, state.store.sync_status());
            text
        },
    )
        .into_response()
}

/// The embedded replica's sync age and failures (nothing for a file or remote mode).
fn replica(out: &mut String, sync: Option<crate::store::sync::SyncStatus>) {
    let Some(sync) = sync else { return };
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        out,
        "anomstack_replica_sync_age_seconds",
        "gauge",
        "Seconds since the embedded replica last synced from its primary (-1: never).",
    );
    let age = sync.age().map_or(-1.0, |a| a.as_secs_f64());
    let _ = writeln!(out, "anomstack_replica_sync_age_seconds {age:.3}");
    family(
        out,
        "anomstack_replica_sync_failures_total",
        "counter",
        "Failed syncs of the embedded replica since start.",
    );
    let _ = writeln!(
        out,
        "anomstack_replica_sync_failures_total {}",
        sync.failures
    );
}

/// How one counter family reads its value from a row of totals.
type Sample = fn(&RunTotals) -> String;

/// Label values are quoted with `\`, `"` and newlines escaped, as the format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn exposition(totals: &[RunTotals], depth: QueueDepth, batches: usize) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut out,
        "anomstack_build_info",
        "gauge",
        "The running build (always 1).",
    );
    let _ = writeln!(
        out,
        "anomstack_build_info{{version=\"{}\",commit=\"{}\",build_time=\"{}\"}} 1",
        label(version::VERSION),
        label(version::COMMIT),
        label(version::BUILD_TIME)
    );
    family(
        &mut out,
        "anomstack_batches",
        "gauge",
        "Metric batches in the loaded configuration.",
    );
    let _ = writeln!(out, "anomstack_batches {batches}");
    family(
        &mut out,
        "anomstack_queue_jobs",
        "gauge",
        "Jobs in the queue by state.",
    );
    for (state, n) in [
        ("pending", depth.pending),
        ("running", depth.running),
        ("failed", depth.failed),
    ] {
        let _ = writeln!(out, "anomstack_queue_jobs{{state=\"{state}\"}} {n}");
    }
    let series: [(&str, &str, Sample); 4] = [
        (
            "anomstack_job_runs_total",
            "Job runs in the kept history, by job and status.",
            |t| t.runs.to_string(),
        ),
        (
            "anomstack_job_run_seconds_total",
            "Seconds spent in job runs, by job and status.",
            |t| format!("{:.3}", t.seconds),
        ),
        (
            "anomstack_job_rows_read_total",
            "Rows read by job runs (ingest: rows fetched from the source).",
            |t| t.rows_read.to_string(),
        ),
        (
            "anomstack_job_rows_written_total",
            "Rows written by job runs (ingest: metric rows; alert: alerts).",
            |t| t.rows_written.to_string(),
        ),
    ];
    for (name, help, value) in series {
        family(&mut out, name, "counter", help);
        for t in totals {
            let _ = writeln!(
                out,
                "{name}{{job=\"{}\",status=\"{}\"}} {}",
                label(&t.job),
                label(&t.status),
                value(t)
            );
        }
    }
    out
}

/// Alert messages by channel and outcome (`sent`, `failed`, `silenced`).
fn notifications(out: &mut String, totals: &[(String, String, u64)]) {
    let _ = writeln!(
        out,
        "# HELP anomstack_notifications_total Alert messages by channel and outcome (sent, failed, silenced).\n# TYPE anomstack_notifications_total counter"
    );
    for (channel, status, n) in totals {
        let _ = writeln!(
            out,
            "anomstack_notifications_total{{channel=\"{}\",status=\"{}\"}} {n}",
            label(channel),
            label(status)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_is_well_formed() {
        let totals = vec![RunTotals {
            job: "in\"gest".into(),
            status: "succeeded".into(),
            runs: 3,
            seconds: 1.5,
            rows_read: 10,
            rows_written: 9,
        }];
        let text = exposition(
            &totals,
            QueueDepth {
                pending: 2,
                running: 1,
                failed: 0,
            },
            5,
        );
        assert!(
            text.contains("anomstack_job_runs_total{job=\"in\\\"gest\",status=\"succeeded\"} 3")
        );
        assert!(text.contains(
            "anomstack_job_run_seconds_total{job=\"in\\\"gest\",status=\"succeeded\"} 1.500"
        ));
        assert!(text.contains("anomstack_queue_jobs{state=\"pending\"} 2"));
        assert!(text.contains("anomstack_batches 5"));
        // Every sample line belongs to a family declared before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "{line}");
            }
        }
    }
}
