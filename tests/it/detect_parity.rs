//! Parity with PyOD 3.6.7 on the seeded fixtures in `tests/fixtures/pyod/` (see its README):
//! raw scores and probabilities within 1e-9 (NaN where PyOD gives NaN), MAD exactly, IForest
//! by rank correlation, and the preprocessing that produced the features.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anomstack::detect::{
    CopodParams, Detector, EcodParams, Features, HbosParams, IForestParams, KnnParams, MadModel,
    Matrix, PcaParams, Preprocess, ScoreRange,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    case: String,
    series: Series,
    features: Feats,
    models: BTreeMap<String, ModelOut>,
    mad: MadOut,
}

#[derive(Deserialize)]
struct Series {
    timestamp: Vec<String>,
    value: Vec<f64>,
}

#[derive(Deserialize)]
struct Feats {
    first_series_index: usize,
    train: Vec<Vec<f64>>,
    test: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct ModelOut {
    train_raw: Vec<Option<f64>>,
    test_raw: Vec<Option<f64>>,
    test_proba: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct MadOut {
    fit_values: Vec<f64>,
    score_values: Vec<f64>,
    raw: Vec<f64>,
    median: f64,
    median_abs_dev: f64,
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pyod");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 12, "every fixture file is loaded");
    paths
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

fn features(rows: &[Vec<f64>]) -> Features {
    Features {
        x: Matrix::from_rows(rows).unwrap(),
        timestamps: (0..rows.len() as i64).collect(),
        values: vec![0.0; rows.len()],
    }
}

/// Within `rel` relative (plus a hair absolute for values at 0), NaN only where expected.
fn assert_close(case: &str, what: &str, got: &[f64], want: &[Option<f64>], rel: f64) {
    assert_eq!(got.len(), want.len(), "{case} {what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match w {
            None => assert!(g.is_nan(), "{case} {what}[{i}]: expected NaN, got {g}"),
            Some(w) => {
                let tol = rel * g.abs().max(w.abs()) + 1e-300;
                assert!(
                    (g - w).abs() <= tol,
                    "{case} {what}[{i}]: got {g}, PyOD {w} (diff {:e})",
                    (g - w).abs()
                );
            }
        }
    }
}

/// Fits on the fixture's training rows and checks train scores, test scores and probabilities.
fn check<D: Detector>(detector: &D, name: &str, rel: f64) {
    for f in fixtures() {
        let want = &f.models[name];
        let (model, train_scores) = detector.fit(&features(&f.features.train)).unwrap();
        assert_close(
            &f.case,
            &format!("{name} train_raw"),
            &train_scores,
            &want.train_raw,
            rel,
        );
        let test = D::score(&model, &features(&f.features.test));
        assert_close(
            &f.case,
            &format!("{name} test_raw"),
            &test,
            &want.test_raw,
            rel,
        );
        let range = ScoreRange::of(&train_scores);
        let proba: Vec<f64> = test.iter().map(|s| range.probability(*s)).collect();
        // Probabilities: 1e-9 absolute.
        for (i, (g, w)) in proba.iter().zip(&want.test_proba).enumerate() {
            match w {
                None => assert!(g.is_nan(), "{} {name} proba[{i}]", f.case),
                Some(w) => assert!(
                    (g - w).abs() <= 1e-9,
                    "{} {name} proba[{i}]: {g} vs {w}",
                    f.case
                ),
            }
        }
    }
}

#[test]
fn pca_matches_pyod() {
    check(&PcaParams::default(), "PCA", 1e-9);
}

#[test]
fn knn_matches_pyod() {
    check(&KnnParams::default(), "KNN", 1e-9);
}

#[test]
fn ecod_matches_pyod() {
    check(&EcodParams::default(), "ECOD", 1e-9);
}

#[test]
fn copod_matches_pyod() {
    check(&CopodParams::default(), "COPOD", 1e-9);
}

#[test]
fn hbos_matches_pyod() {
    check(&HbosParams::default(), "HBOS", 1e-9);
}

#[test]
fn mad_matches_pyod_exactly_including_the_largest_double() {
    for f in fixtures() {
        let m = MadModel::fit_values(&f.mad.fit_values, 3.5).unwrap();
        assert_eq!(m.median, f.mad.median, "{}", f.case);
        assert_eq!(m.mad, f.mad.median_abs_dev, "{}", f.case);
        let raw: Vec<f64> = f
            .mad
            .score_values
            .iter()
            .map(|&v| m.score_value(v))
            .collect();
        assert_eq!(raw, f.mad.raw, "{}", f.case);
    }
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut r = vec![0.0; values.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn iforest_ranks_rows_like_pyod() {
    for f in fixtures() {
        let want = &f.models["IForest"];
        let (model, train_scores) = IForestParams::default()
            .fit(&features(&f.features.train))
            .unwrap();
        let test = IForestParams::score(&model, &features(&f.features.test));
        let want_test: Vec<f64> = want.test_raw.iter().map(|v| v.unwrap()).collect();
        let want_train: Vec<f64> = want.train_raw.iter().map(|v| v.unwrap()).collect();
        let all_equal = want_test.iter().all(|v| *v == want_test[0]);
        if all_equal {
            // A constant series: PyOD scores every row the same; so must we.
            assert!(
                test.iter().all(|v| (v - test[0]).abs() < 1e-12),
                "{}",
                f.case
            );
            continue;
        }
        let rho_test = spearman(&test, &want_test);
        let rho_train = spearman(&train_scores, &want_train);
        assert!(
            rho_test >= 0.9,
            "{} IForest test Spearman {rho_test}",
            f.case
        );
        assert!(
            rho_train >= 0.9,
            "{} IForest train Spearman {rho_train}",
            f.case
        );
    }
}

#[test]
fn preprocessing_reproduces_the_fixture_features() {
    for f in fixtures() {
        let points: Vec<(i64, f64)> = f
            .series
            .timestamp
            .iter()
            .zip(&f.series.value)
            .map(|(t, v)| {
                let ts = anomstack::timestamp::parse_lenient(t)
                    .unwrap()
                    .and_utc()
                    .timestamp();
                (ts, *v)
            })
            .collect();
        let got = Preprocess::default().apply(&points).unwrap();
        let want: Vec<&Vec<f64>> = f.features.train.iter().chain(&f.features.test).collect();
        assert_eq!(got.x.rows(), want.len(), "{}", f.case);
        assert_eq!(got.timestamps[0], points[f.features.first_series_index].0);
        let scale = want
            .iter()
            .flat_map(|r| r.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, row) in want.iter().enumerate() {
            for (g, w) in got.x.row(i).iter().zip(row.iter()) {
                assert!(
                    (g - w).abs() <= 1e-12 * scale.max(1e-300),
                    "{} row {i}: {g} vs {w}",
                    f.case
                );
            }
        }
    }
}

#[test]
fn knn_finds_the_exact_training_range_without_every_score() {
    use anomstack::detect::{KnnMethod, ScoreMethod, TrainingScores};
    for f in fixtures() {
        for exclude_within in [0, 20] {
            let params = KnnParams {
                exclude_within,
                ..KnnParams::default()
            };
            let train = features(&f.features.train);
            let (_, all) = params.fit(&train).unwrap();
            let (_, range) = params.fit_for(&train, ScoreMethod::Linear).unwrap();
            assert_eq!(
                range,
                TrainingScores::Range(ScoreRange::of(&all)),
                "{}",
                f.case
            );
        }
        // Methods that need every score still get them.
        let mean = KnnParams {
            method: KnnMethod::Mean,
            ..KnnParams::default()
        };
        let (_, scores) = mean
            .fit_for(&features(&f.features.train), ScoreMethod::Linear)
            .unwrap();
        assert!(matches!(scores, TrainingScores::All(_)));
    }
}

#[test]
fn knn_scoring_every_nth_training_row_gives_those_rows_scores() {
    use anomstack::detect::{KnnMethod, ScoreMethod, TrainingScores};
    for f in fixtures() {
        let train = features(&f.features.train);
        for exclude_within in [0, 20] {
            let every_row = KnnParams {
                n_neighbors: 10,
                method: KnnMethod::Mean,
                exclude_within,
                ..KnnParams::default()
            };
            let (_, all) = every_row.fit(&train).unwrap();
            for every in [2, 3] {
                let sampled = KnnParams {
                    score_every: every,
                    ..every_row.clone()
                };
                let want: Vec<f64> = all.iter().copied().step_by(every).collect();
                let (_, got) = sampled.fit_for(&train, ScoreMethod::Rank).unwrap();
                assert_eq!(got, TrainingScores::All(want), "{} every {every}", f.case);
            }
        }
    }
    let zero = KnnParams {
        score_every: 0,
        ..KnnParams::default()
    };
    let err = zero
        .fit(&features(&fixtures()[0].features.train))
        .unwrap_err();
    assert!(err.to_string().contains("score_every"), "{err}");
}
