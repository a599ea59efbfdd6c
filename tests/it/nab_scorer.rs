//! The NAB scorer reproduces the expected scores of four published detectors (and a constant
//! one) on the NAB subset in `tests/fixtures/nab/`, for all three profiles.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use anomstack::backtest::io::{read_series, read_windows, window_rows};
use anomstack::backtest::nab::{PROFILES, ScoredFile, optimized};

pub fn nab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nab")
}

/// File key → (rows, windows).
fn corpus() -> BTreeMap<String, (usize, Vec<(usize, usize)>)> {
    let dir = nab_dir();
    let windows = read_windows(&dir.join("labels/combined_windows.json")).unwrap();
    windows
        .into_iter()
        .map(|(key, w)| {
            let series = read_series(&dir.join("data").join(&key)).unwrap();
            let rows = window_rows(&series, &w);
            assert_eq!(rows.len(), w.len(), "{key}: every window matches rows");
            (key, (series.values.len(), rows))
        })
        .collect()
}

fn detector_scores(name: &str) -> BTreeMap<String, Vec<f64>> {
    let path = nab_dir().join(format!("results/detector_scores/{name}.csv.gz"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let mut cells = line.split(',');
        let file = cells.next().unwrap();
        let score: f64 = cells.nth(1).unwrap().parse().unwrap();
        out.entry(file.to_owned()).or_default().push(score);
    }
    out
}

#[test]
fn the_scorer_reproduces_the_expected_nab_scores() {
    let corpus = corpus();
    assert_eq!(corpus.len(), 24);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(nab_dir().join("expected_scores.json")).unwrap())
            .unwrap();
    for detector in ["ARTime", "numenta", "windowedGaussian", "random", "null"] {
        let scores = if detector == "null" {
            corpus
                .iter()
                .map(|(k, (n, _))| (k.clone(), vec![0.5; *n]))
                .collect()
        } else {
            detector_scores(detector)
        };
        let files: Vec<ScoredFile> = corpus
            .iter()
            .map(|(key, (n, windows))| {
                let s = scores[key].clone();
                assert_eq!(s.len(), *n, "{detector} {key}");
                ScoredFile {
                    scores: s,
                    windows: windows.clone(),
                }
            })
            .collect();
        for profile in PROFILES {
            let got = optimized(&files, &profile);
            let want = &expected["detectors"][detector][profile.name];
            let ctx = format!("{detector} {}", profile.name);
            let round = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
            assert_eq!(
                round(got.raw, 6),
                want["raw"].as_f64().unwrap(),
                "{ctx} raw {}",
                got.raw
            );
            assert_eq!(
                round(got.normalized, 4),
                want["normalized"].as_f64().unwrap(),
                "{ctx} normalized"
            );
            let wt = want["threshold"].as_f64().unwrap();
            assert!(
                (got.threshold - wt).abs() <= 1e-12 * wt.abs().max(1.0),
                "{ctx} threshold {} vs {wt}",
                got.threshold
            );
            for (field, value) in [
                ("windows_detected", got.windows_detected),
                ("windows_missed", got.windows_missed),
                ("tp_rows", got.tp_rows),
                ("fp_rows", got.fp_rows),
                ("fn_rows", got.fn_rows),
                ("tn_rows", got.tn_rows),
            ] {
                assert_eq!(value as u64, want[field].as_u64().unwrap(), "{ctx} {field}");
            }
        }
    }
}
