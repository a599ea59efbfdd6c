//! Custom ingest programs end to end: `ingest_cmd` (any executable printing CSV or JSON lines)
//! and `ingest_fn` (an original Anomstack Python `ingest()`, run with the pandas from
//! `tests/.venv`, which `scripts/install_test_deps.sh` installs).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anomstack::config::SourceSettings;

use super::sources::{ingest_batch, quick};

fn venv_python() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/.venv/bin/python")
        .display()
        .to_string()
}

#[tokio::test]
async fn a_program_prints_csv_and_its_stderr_goes_to_the_run_log() {
    let script = r#"#!/bin/sh
echo "fetching $ANOMSTACK_BATCH at $ANOMSTACK_RUN_TS" >&2
echo 'metric_timestamp,metric_name,metric_value'
echo '2024-01-01 00:00:00,"orders, ""eu""",5'
echo '2024-01-01 01:00:00,"orders, ""eu""",not-a-number'
"#;
    let (rows, log) = ingest_batch(
        "ingest_cmd: ./bin/fetch.sh\n",
        &[("bin/fetch.sh", script)],
        quick(SourceSettings::default()),
    )
    .await;
    assert_eq!(
        rows.unwrap(),
        vec![("2024-01-01 00:00:00".into(), "orders, \"eu\"".into(), 5.0)],
        "the non-numeric row is rejected"
    );
    assert!(log.contains("fetching src at 2024-01-02 00:00:00"), "{log}");
}

#[tokio::test]
async fn a_runaway_program_is_stopped_at_the_row_limit() {
    // `yes` never ends: without the limit the server would buffer it until memory runs out.
    let script = "#!/bin/sh\necho 'metric_timestamp,metric_name,metric_value'\nexec yes '2024-01-01 00:00:00,m,1'\n";
    let mut settings = quick(SourceSettings::default());
    settings.max_rows = 1000;
    let started = Instant::now();
    let (rows, _) = ingest_batch(
        "ingest_cmd: ./flood.sh\n",
        &[("flood.sh", script)],
        settings.clone(),
    )
    .await;
    let err = rows.unwrap_err();
    assert!(
        err.contains("more than 1000 rows") && err.contains("ANOMSTACK_SOURCE_MAX_ROWS"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Exactly at the limit is fine; the header is not a row.
    let script = "#!/bin/sh\necho 'metric_timestamp,metric_name,metric_value'\nseq 1000 | sed 's/.*/2024-01-01 00:00:00,m&,1/'\n";
    let (rows, _) = ingest_batch(
        "ingest_cmd: ./exact.sh\n",
        &[("exact.sh", script)],
        settings,
    )
    .await;
    assert_eq!(rows.unwrap().len(), 1000);
}

#[tokio::test]
async fn a_program_prints_json_lines() {
    let script = r#"#!/bin/sh
echo '{"metric_timestamp": "2024-01-01T00:00:00Z", "metric_name": "users", "metric_value": 12}'
echo '{"metric_timestamp": "2024-01-01T02:00:00+01:00", "metric_name": "users", "metric_value": "13.5"}'
"#;
    let (rows, _) = ingest_batch(
        "ingest_cmd: ./users.sh\n",
        &[("users.sh", script)],
        quick(SourceSettings::default()),
    )
    .await;
    assert_eq!(
        rows.unwrap(),
        vec![
            ("2024-01-01 00:00:00".into(), "users".into(), 12.0),
            ("2024-01-01 01:00:00".into(), "users".into(), 13.5)
        ]
    );
}

#[tokio::test]
async fn a_failing_program_is_quoted_and_a_slow_one_is_killed() {
    let failing = "#!/bin/sh\necho 'starting' >&2\necho 'error: token expired' >&2\nexit 2\n";
    let (rows, _) = ingest_batch(
        "ingest_cmd: ./fail.sh\n",
        &[("fail.sh", failing)],
        quick(SourceSettings::default()),
    )
    .await;
    let err = rows.unwrap_err();
    assert!(
        err.contains("src") && err.contains("exit status: 2") && err.contains("token expired"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let slow = format!(
        "#!/bin/sh\necho $$ > {}\nexec sleep 30\n",
        pid_file.display()
    );
    let started = Instant::now();
    let (rows, _) = ingest_batch(
        "ingest_cmd: ./slow.sh\ningest_timeout_seconds: 1\n",
        &[("slow.sh", &slow)],
        quick(SourceSettings::default()),
    )
    .await;
    let err = rows.unwrap_err();
    assert!(err.contains("timed out after 1 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Killed when the run gave up (kill_on_drop); give the kernel a moment to reap it.
    let mut alive = true;
    for _ in 0..50 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        alive = !stat.is_empty() && !stat.contains(") Z ");
        if !alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!alive, "the program {pid} was left running");
}

const INGEST_FN: &str = r#"ingest_fn: |
  import pandas as pd

  def ingest():
      return pd.DataFrame({
          "metric_timestamp": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-01 01:00:00"]),
          "metric_name": ["visits", "visits"],
          "metric_value": [1.5, float("nan")],
      })
"#;

#[tokio::test]
async fn an_original_python_ingest_runs_with_pandas() {
    let mut sources = quick(SourceSettings::default());
    sources.python = venv_python();
    let (rows, _) = ingest_batch(INGEST_FN, &[], sources).await;
    assert_eq!(
        rows.unwrap(),
        vec![("2024-01-01 00:00:00".into(), "visits".into(), 1.5)],
        "the NaN row is rejected"
    );
}

#[tokio::test]
async fn a_python_without_pandas_or_no_python_says_what_is_missing() {
    // The same interpreter with its site-packages turned off has no pandas.
    let no_site = format!("#!/bin/sh\nexec {} -S \"$@\"\n", venv_python());
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("python-no-site");
    std::fs::write(&wrapper, no_site).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut sources = quick(SourceSettings::default());
    sources.python = wrapper.display().to_string();
    let (rows, _) = ingest_batch(INGEST_FN, &[], sources.clone()).await;
    let err = rows.unwrap_err();
    assert!(err.contains("ingest_fn needs pandas"), "{err}");

    sources.python = "/nonexistent/python3".into();
    let (rows, _) = ingest_batch(INGEST_FN, &[], sources).await;
    let err = rows.unwrap_err();
    assert!(
        err.contains("ANOMSTACK_PYTHON") && err.contains("/nonexistent/python3"),
        "{err}"
    );
}

#[tokio::test]
async fn an_original_python_ingest_that_imports_dagster_and_dotenv_runs() {
    // As the original's examples do: dotenv at the top, dagster's logger inside, and `pd`
    // used without an import because the original's runner provided it.
    let source = r#"ingest_fn: |
  from dotenv import load_dotenv

  load_dotenv()

  def ingest():
      from dagster import get_dagster_logger

      logger = get_dagster_logger()
      logger.info("fetching visits")
      return pd.DataFrame({
          "metric_timestamp": ["2024-01-01 00:00:00"],
          "metric_name": ["visits"],
          "metric_value": [2.0],
      })

  if __name__ == "__main__":
      raise SystemExit("not run as a script")
"#;
    let mut sources = quick(SourceSettings::default());
    sources.python = venv_python();
    let (rows, log) = ingest_batch(source, &[], sources).await;
    assert_eq!(
        rows.unwrap(),
        vec![("2024-01-01 00:00:00".into(), "visits".into(), 2.0)]
    );
    assert!(log.contains("fetching visits"), "{log}");
}
