//! The real binary, run in a temp directory with a clean environment.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{MetricsDir, batch_yaml};

fn anomstack(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anomstack"));
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info");
    cmd
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("run anomstack");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn version_and_help_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, _) = run(anomstack(dir.path()).arg("--version"));
    assert!(out.status.success());
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    let (out, stdout, _) = run(anomstack(dir.path()).arg("--help"));
    assert!(out.status.success());
    for sub in ["serve", "validate", "hash-password"] {
        assert!(stdout.contains(sub), "{stdout}");
    }
}

#[test]
fn validate_reports_success_with_the_batch_names() {
    let metrics = MetricsDir::new();
    metrics.write("a.yaml", &batch_yaml("alpha"));
    let (out, stdout, _) = run(anomstack(metrics.tmp.path()).arg("validate"));
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.starts_with("ok: 1 batch in ./metrics (alpha)"),
        "{stdout}"
    );
}

#[test]
fn validate_prints_every_error_and_exits_non_zero() {
    let metrics = MetricsDir::new();
    metrics.write(
        "a.yaml",
        "metric_batch: a\ningest_sql: SELECT 1\nalert_treshold: 1\n",
    );
    metrics.write(
        "b.yaml",
        "metric_batch: b\ningest_sql: SELECT 1\nscore_cron_schedule: nope\n",
    );
    let (out, _, stderr) = run(anomstack(metrics.tmp.path())
        .arg("validate")
        .env("ANOMSTACK__A__TRAIN_MAX_N", "many"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("3 configuration errors:"), "{stderr}");
    assert!(
        stderr
            .contains("a.yaml: key `alert_treshold`: unknown key; did you mean `alert_threshold`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("b.yaml: key `score_cron_schedule`: invalid cron expression `nope`"),
        "{stderr}"
    );
    assert!(stderr.contains("environment variable ANOMSTACK__A__TRAIN_MAX_N: key `train_max_n`: expected a whole number"), "{stderr}");
}

/// Starts `serve` in `dir` on a free port; returns the child, its base URL and the log lines up
/// to the one that says it listens (later lines keep arriving on the receiver).
fn serve_until_listening(
    dir: &Path,
) -> (
    std::process::Child,
    String,
    Vec<String>,
    std::sync::mpsc::Receiver<String>,
) {
    let mut child = anomstack(dir)
        .env("ANOMSTACK_PORT", "0")
        .env("ANOMSTACK_HOST", "127.0.0.1")
        .env("ANOMSTACK_SQLITE_PATH", "./data/app.db")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no 'listening on' line; saw {seen:#?}");
        };
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        seen.push(line);
        if let Some(addr) = addr {
            return (child, format!("http://{addr}"), seen, rx);
        }
    }
}

fn stop(mut child: std::process::Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

#[tokio::test]
async fn serve_runs_the_valid_batches_and_names_an_invalid_one() {
    let metrics = MetricsDir::new();
    metrics.write("a.yaml", "metric_batch: a\n");
    metrics.write("b.yaml", &batch_yaml("beta"));
    let (child, base, seen, _rx) = serve_until_listening(metrics.tmp.path());
    let log = seen.join("\n");
    assert!(
        log.contains("batch `a` does not validate; it does not run")
            && log.contains("a.yaml: key `ingest_sql`: the batch has no ingest"),
        "{log}"
    );
    assert!(
        log.contains("batches=1") && log.contains("invalid=1"),
        "{log}"
    );
    anomstack::notify::tls_ready();
    let home = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("invalid-batches") && home.contains(">a<"),
        "{home}"
    );
    assert!(home.contains("beta"), "{home}");
    let exit = tokio::task::spawn_blocking(move || stop(child))
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn a_bad_setting_is_one_line_naming_the_variable() {
    let metrics = MetricsDir::new();
    metrics.write("a.yaml", &batch_yaml("a"));
    let (out, _, stderr) = run(anomstack(metrics.tmp.path())
        .arg("serve")
        .env("ANOMSTACK_PORT", "http"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("environment variable ANOMSTACK_PORT: expected a port number"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_answers_health_as_soon_as_it_says_it_listens_and_stops_on_sigterm() {
    let metrics = MetricsDir::new();
    metrics.write("a.yaml", &batch_yaml("alpha"));
    let (child, base, seen, _rx) = serve_until_listening(metrics.tmp.path());
    for line in &seen {
        assert!(
            !line.contains('\u{1b}'),
            "no colour codes when stderr is not a terminal: {line:?}"
        );
    }

    // The first request, made right after the log line, must succeed: no retry loop.
    anomstack::notify::tls_ready();
    let health = reqwest::get(format!("{base}/health"))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    let version: serde_json::Value = reqwest::get(format!("{base}/version"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(metrics.tmp.path().join("data/app.db").exists());

    // The Docker HEALTHCHECK: `anomstack healthcheck` asks /health (the image has no curl).
    let port = base.rsplit(':').next().unwrap().to_owned();
    let check = anomstack(metrics.tmp.path())
        .arg("healthcheck")
        .env("ANOMSTACK_PORT", &port)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let exit = tokio::task::spawn_blocking(move || stop(child))
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");

    // Nothing listens any more: the check fails, saying where it looked.
    let check = anomstack(metrics.tmp.path())
        .args(["healthcheck", "--timeout", "2"])
        .env("ANOMSTACK_PORT", &port)
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(
        String::from_utf8_lossy(&check.stderr).contains(&format!("127.0.0.1:{port}/health")),
        "{check:?}"
    );
}

#[test]
fn hash_password_reads_stdin_and_prints_a_verifiable_argon2id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = anomstack(dir.path())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let hash = stdout.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(anomstack::password::verify_password("s3cret-horse", hash).unwrap());
    assert!(!stdout.contains("s3cret-horse") && !stderr.contains("s3cret-horse"));
}

#[test]
fn a_dotenv_file_fills_variables_and_the_environment_wins() {
    let metrics = MetricsDir::new();
    metrics.write("a.yaml", &batch_yaml("a"));
    std::fs::write(
        metrics.tmp.path().join(".env"),
        "# settings\nANOMSTACK__A__INGEST_CRON_SCHEDULE=*/1 * * * *\nexport ANOMSTACK__A__VARS={\"geos\": [\"eu\"]}\nANOMSTACK__A__TRAIN_MAX_N=many\n",
    )
    .unwrap();
    let (out, _, stderr) = run(anomstack(metrics.tmp.path()).arg("validate"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("1 configuration error:"), "{stderr}");
    assert!(stderr.contains("ANOMSTACK__A__TRAIN_MAX_N"), "{stderr}");

    let (out, stdout, stderr) = run(anomstack(metrics.tmp.path())
        .arg("validate")
        .env("ANOMSTACK__A__TRAIN_MAX_N", "100"));
    assert!(out.status.success(), "{stdout}{stderr}");
}

#[test]
fn a_malformed_dotenv_line_is_reported_with_its_number() {
    let metrics = MetricsDir::new();
    metrics.write("a.yaml", &batch_yaml("a"));
    std::fs::write(metrics.tmp.path().join(".env"), "A=1\njust words\n").unwrap();
    let (out, _, stderr) = run(anomstack(metrics.tmp.path()).arg("validate"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains(".env: line 2: expected KEY=VALUE"),
        "{stderr}"
    );
}

#[test]
fn backtest_writes_one_row_per_input_row_mirroring_the_layout_and_scores_nab() {
    let nab = crate::nab_scorer::nab_dir();
    let dir = tempfile::tempdir().unwrap();
    // A two-file NAB-layout folder.
    let keys = [
        "realAdExchange/exchange-3_cpm_results.csv",
        "realAdExchange/exchange-4_cpm_results.csv",
    ];
    let labels: serde_json::Value =
        serde_json::from_slice(&std::fs::read(nab.join("labels/combined_windows.json")).unwrap())
            .unwrap();
    let mut subset = serde_json::Map::new();
    for key in keys {
        let target = dir.path().join("nab/data").join(key);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(nab.join("data").join(key), &target).unwrap();
        subset.insert(key.to_owned(), labels[key].clone());
    }
    std::fs::create_dir_all(dir.path().join("nab/labels")).unwrap();
    std::fs::write(
        dir.path().join("nab/labels/combined_windows.json"),
        serde_json::to_vec(&subset).unwrap(),
    )
    .unwrap();

    let (out, stdout, stderr) = run(anomstack(dir.path()).args([
        "backtest",
        "--nab",
        "nab",
        "--output",
        "scores",
        "--retrain-every",
        "200",
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("replayed 2 files"), "{stdout}");
    for profile in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"] {
        assert!(stdout.contains(profile), "{stdout}");
    }
    for key in keys {
        let input = std::fs::read_to_string(nab.join("data").join(key)).unwrap();
        let output = std::fs::read_to_string(dir.path().join("scores").join(key)).unwrap();
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines[0], "timestamp,value,anomaly_score,alert");
        assert_eq!(lines.len(), input.lines().count(), "one row per input row");
        for (i, line) in lines.iter().skip(1).enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            let score: f64 = cells[2].parse().unwrap();
            assert!((0.0..=1.0).contains(&score), "row {i}: {line}");
            assert!(cells[3] == "0" || cells[3] == "1");
        }
        assert_eq!(
            lines[1].split(',').next(),
            input.lines().nth(1).unwrap().split(',').next(),
            "timestamps are echoed"
        );
    }

    // A single file without labels goes to <output>/<file name>.
    let (out, stdout, stderr) = run(anomstack(dir.path()).args([
        "backtest",
        "nab/data/realAdExchange/exchange-3_cpm_results.csv",
        "--output",
        "single",
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        dir.path()
            .join("single/exchange-3_cpm_results.csv")
            .exists()
    );
    assert!(!stdout.contains("NAB scores"));
}

#[test]
fn backtest_reports_a_bad_row_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.csv"),
        "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,abc\n",
    )
    .unwrap();
    let (out, _, stderr) = run(anomstack(dir.path()).args(["backtest", "s.csv", "--output", "o"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("s.csv: line 3: value \"abc\" is not a number"),
        "{stderr}"
    );
}

#[test]
fn run_and_backfill_work_on_the_shipped_examples() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let status = Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success());
    };
    copy(
        &crate::support::repo_metrics_dir(),
        &dir.path().join("metrics"),
    );
    let (out, stdout, stderr) = run(anomstack(dir.path()).args([
        "backfill",
        "sales",
        "--from",
        "2026-11-24 00:00:00",
        "--to",
        "2026-11-24 06:00:00",
        "--every",
        "10m",
    ]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("backfilled 37 ingest run(s)"), "{stdout}");
    assert!(stdout.contains("trained 3 model(s)"), "{stdout}");

    let (out, stdout, stderr) = run(anomstack(dir.path()).args(["run", "pipeline", "sales"]));
    assert!(out.status.success(), "{stdout}{stderr}");
    for job in ["ingest:", "train:", "score:", "alert:", "change:"] {
        assert!(stdout.contains(job), "{stdout}");
    }

    // A custom program as the source.
    let (out, stdout, stderr) = run(anomstack(dir.path()).args(["run", "ingest", "cmd_ingest"]));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("stored 2 metric rows") || stdout.contains("stored 1 metric rows"),
        "{stdout}"
    );

    let (out, stdout, _) = run(anomstack(dir.path()).args(["run", "summary"]));
    assert!(out.status.success());
    assert!(
        stdout.contains("Anomstack Summary") && stdout.contains("sales_pipeline_deals_sold"),
        "{stdout}"
    );

    let (out, _, stderr) = run(anomstack(dir.path()).args(["run", "ingest", "nope"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("no enabled batch `nope`"), "{stderr}");
}
