//! Detection quality of the shipped defaults on the NAB subset, judged by the alerts they
//! send. A guard against regressions; the figures themselves live in BENCHMARKS.md.

use anomstack::backtest::{BacktestRequest, run};
use anomstack::config;

use crate::nab_scorer::nab_dir;

#[test]
fn the_shipped_defaults_alert_well_on_nab() {
    let spec = config::builtin_defaults_batch("nab").unwrap();
    let out = tempfile::tempdir().unwrap();
    let request = BacktestRequest {
        input: nab_dir().join("data"),
        output: out.path().to_path_buf(),
        settings: spec.replay_settings(100).unwrap(),
        labels: Some(nab_dir().join("labels/combined_windows.json")),
        threads: 2,
        feedback: false,
    };
    let report = run(&request, &|_| {}).unwrap();
    assert_eq!(report.rows, 123_523);
    let profiles = report.nab.unwrap();
    let standard = profiles
        .iter()
        .find(|p| p.profile.name == "standard")
        .unwrap();
    assert!(
        standard.alerts.normalized >= 45.0,
        "standard profile score of the alerts: {:.2}",
        standard.alerts.normalized
    );

    // Alerts that learn: answered as a person would the moment each arrives, a sixth of the
    // false positives go, no window is lost and the score rises (57.9 -> 64.5 measured).
    let taught = run(
        &BacktestRequest {
            feedback: true,
            output: out.path().join("taught"),
            ..request
        },
        &|_| {},
    )
    .unwrap();
    let taught = taught
        .nab
        .unwrap()
        .into_iter()
        .find(|p| p.profile.name == "standard")
        .unwrap();
    let (before, after) = (&standard.alerts, &taught.alerts);
    assert!(
        (after.fp_rows as f64) <= 0.85 * before.fp_rows as f64,
        "false-positive rows {} -> {}",
        before.fp_rows,
        after.fp_rows
    );
    assert!(
        after.windows_detected >= before.windows_detected,
        "windows {} -> {}",
        before.windows_detected,
        after.windows_detected
    );
    assert!(
        after.normalized >= before.normalized + 3.0,
        "standard score {:.2} -> {:.2}",
        before.normalized,
        after.normalized
    );
}
