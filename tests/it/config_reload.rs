//! Reloading the configuration while the app runs: a changed metrics folder replaces it, a
//! batch an edit broke keeps its last good configuration, and `serve` picks changes up by
//! itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anomstack::config::{EnvVars, LiveConfig, Reload};

use crate::support::{MetricsDir, batch_yaml};

#[test]
fn a_changed_folder_is_reloaded_and_a_broken_one_keeps_the_last_good_config() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let env = EnvVars::default();
    let live = LiveConfig::new(dir.load_ok(&[]), dir.settings(&env), env);
    let mut updates = live.subscribe();
    assert!(matches!(live.reload_if_changed(), Ok(Reload::Unchanged)));

    dir.write("b.yaml", &batch_yaml("b"));
    assert!(matches!(
        live.reload_if_changed(),
        Ok(Reload::Applied { batches: 2, ref problems }) if problems.0.is_empty()
    ));
    assert!(updates.has_changed().unwrap());
    assert!(live.current().batch("b").is_some());
    updates.borrow_and_update();

    // A typo: the error names the file and key; the two good batches keep running.
    dir.write(
        "b.yaml",
        "metric_batch: b\ningest_sql: SELECT 1\nalert_treshold: 0.5\n",
    );
    let Ok(Reload::Applied {
        batches: 2,
        problems,
    }) = live.reload_if_changed()
    else {
        panic!("expected the reload to apply, keeping b's last good configuration");
    };
    let errors = problems.to_string();
    assert!(
        errors.contains("b.yaml") && errors.contains("alert_treshold"),
        "{errors}"
    );
    assert_eq!(live.current().batches.len(), 2);
    assert_eq!(live.current().kept_running, ["b"]);
    assert!(live.current().invalid_batch("b").is_some());
    // Not reported again until the folder changes once more.
    assert!(matches!(live.reload_if_changed(), Ok(Reload::Unchanged)));

    std::fs::remove_file(dir.path().join("b.yaml")).unwrap();
    assert!(matches!(
        live.reload_if_changed(),
        Ok(Reload::Applied { batches: 1, .. })
    ));
    assert!(live.current().batch("b").is_none());
}

#[test]
fn serve_reloads_schedules_when_a_batch_file_appears() {
    let dir = MetricsDir::new();
    dir.write("a.yaml", &batch_yaml("a"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_anomstack"))
        .current_dir(dir.tmp.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("ANOMSTACK_PORT", "0")
        .env("ANOMSTACK_HOST", "127.0.0.1")
        .env("ANOMSTACK_METRICS_DIR", dir.path())
        .env("ANOMSTACK_SQLITE_PATH", dir.tmp.path().join("app.db"))
        .env("ANOMSTACK_CONFIG_POLL_SECONDS", "1")
        .env("ANOMSTACK_WORKERS", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn anomstack");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Reads log lines until every needle has appeared (in any order).
    let wait_for_all = |needles: &[&str]| -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen: Vec<String> = Vec::new();
        while Instant::now() < deadline {
            if needles.iter().all(|n| seen.iter().any(|l| l.contains(n))) {
                return seen;
            }
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.push(line);
            }
        }
        panic!("not all of {needles:?} in the log:\n{}", seen.join("\n"));
    };
    let wait_for = |needle: &str| wait_for_all(&[needle]);
    let started = wait_for("scheduler started");
    let jobs_before = started.last().cloned().unwrap_or_default();

    dir.write(
        "b.yaml",
        &format!(
            "{}ingest_default_schedule_status: RUNNING\n",
            batch_yaml("b")
        ),
    );
    let lines = wait_for_all(&["configuration reloaded", "schedules replaced"]);
    let line = lines
        .iter()
        .find(|l| l.contains("schedules replaced"))
        .cloned()
        .unwrap_or_default();
    assert_ne!(
        jobs_count(&line),
        jobs_count(&jobs_before),
        "{line} vs {jobs_before}"
    );

    dir.write("c.yaml", "metric_batch: c\n");
    let broken = wait_for("batch `c` does not validate; it does not run");
    assert!(broken.iter().any(|l| l.contains("c.yaml")), "{broken:?}");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
}

/// The `jobs=N` field of a log line.
fn jobs_count(line: &str) -> Option<u32> {
    let at = line.find("jobs=")? + 5;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
