//! Criterion benchmarks of the detection maths on one metric of 1000 points: the per-metric
//! cost behind `anomstack bench detect` (which runs the whole train/score loop for many
//! metrics and reports CPU seconds and memory). Run with `cargo bench --bench detect`.

use std::collections::BTreeMap;

use anomstack::bench::synthetic_series;
use anomstack::detect::rng::Rng;
use anomstack::detect::{DetectorSpec, Preprocess, ScoreMethod, TrainedModel};
use criterion::{Criterion, criterion_group, criterion_main};

fn detect(c: &mut Criterion) {
    let points = synthetic_series(&mut Rng::seeded(42), 1000);
    let original = Preprocess::default();
    let windows = Preprocess {
        diff_n: 0,
        smooth_n: 0,
        lags_n: 10,
        ..Preprocess::default()
    };
    let features = original.apply(&points).unwrap();
    let window_features = windows.apply(&points).unwrap();
    let spec = |name: &str, params: serde_json::Value| {
        let params: BTreeMap<String, serde_json::Value> = serde_json::from_value(params).unwrap();
        DetectorSpec::from_config(name, &params).unwrap()
    };
    let pca = spec("PCA", serde_json::json!({}));
    let knn = spec("KNN", serde_json::json!({}));
    let shipped = spec(
        "KNN",
        serde_json::json!({"n_neighbors": 10, "method": "mean", "exclude_within": 100, "score_every": 2}),
    );

    c.bench_function("preprocess 1000 points", |b| {
        b.iter(|| original.apply(std::hint::black_box(&points)).unwrap())
    });
    c.bench_function("PCA fit, linear", |b| {
        b.iter(|| TrainedModel::train(&pca, original, ScoreMethod::Linear, &features, 0).unwrap())
    });
    c.bench_function("KNN fit, linear", |b| {
        b.iter(|| TrainedModel::train(&knn, original, ScoreMethod::Linear, &features, 0).unwrap())
    });
    c.bench_function("shipped KNN fit, rank", |b| {
        b.iter(|| {
            TrainedModel::train(&shipped, windows, ScoreMethod::Rank, &window_features, 0).unwrap()
        })
    });
    let model = TrainedModel::train(&knn, original, ScoreMethod::Linear, &features, 0).unwrap();
    let recent = original.apply(&points[975..]).unwrap();
    c.bench_function("KNN score 17 rows", |b| {
        b.iter(|| model.probabilities(std::hint::black_box(&recent)))
    });
    let json = model.to_json();
    c.bench_function("KNN model JSON round trip", |b| {
        b.iter(|| TrainedModel::from_json(&model.to_json()).unwrap())
    });
    assert!(!json.is_empty());
    let shipped_model =
        TrainedModel::train(&shipped, windows, ScoreMethod::Rank, &window_features, 0).unwrap();
    let recent_windows = windows.apply(&points[975..]).unwrap();
    c.bench_function("shipped KNN score 15 rows", |b| {
        b.iter(|| shipped_model.probabilities(std::hint::black_box(&recent_windows)))
    });
    c.bench_function("shipped KNN model JSON round trip", |b| {
        b.iter(|| TrainedModel::from_json(&shipped_model.to_json()).unwrap())
    });
}

criterion_group!(benches, detect);
criterion_main!(benches);
