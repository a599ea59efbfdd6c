//! Trained models: every detector round-trips through the portable format and scores the same
//! afterwards; unknown versions and foreign documents are refused with clear errors.

use anomstack::detect::{
    DetectError, DetectorSpec, Features, Matrix, Preprocess, ScoreMethod, SeasonalBandParams,
    TrainedModel,
};
use std::collections::BTreeMap;

/// A noisy daily-seasonal series with one spike near the end.
pub fn seasonal_series(n: usize, spike_at: Option<usize>) -> Vec<(i64, f64)> {
    let mut s: u64 = 99;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0;
            let season = 10.0 * (2.0 * std::f64::consts::PI * i as f64 / 48.0).sin();
            let spike = if Some(i) == spike_at { 40.0 } else { 0.0 };
            (i as i64 * 1800, 100.0 + season + noise + spike)
        })
        .collect()
}

fn all_specs() -> Vec<DetectorSpec> {
    [
        "PCA",
        "KNN",
        "ECOD",
        "COPOD",
        "HBOS",
        "IForest",
        "MAD",
        "ZScore",
        "SeasonalBand",
    ]
    .iter()
    .map(|n| DetectorSpec::from_config(n, &BTreeMap::new()).unwrap())
    .collect()
}

fn split(features: &Features, at: usize) -> (Features, Features) {
    let take = |range: std::ops::Range<usize>| Features {
        x: features.x.select_rows(&range.clone().collect::<Vec<_>>()),
        timestamps: features.timestamps[range.clone()].to_vec(),
        values: features.values[range].to_vec(),
    };
    (take(0..at), take(at..features.x.rows()))
}

#[test]
fn every_detector_round_trips_through_the_model_format() {
    let pre = Preprocess::default();
    let features = pre.apply(&seasonal_series(400, Some(390))).unwrap();
    let (train, test) = split(&features, 350);
    for spec in all_specs() {
        let model =
            TrainedModel::train(&spec, pre, ScoreMethod::Linear, &train, 1_700_000_000).unwrap();
        let bytes = model.to_json();
        let back = TrainedModel::from_json(&bytes).unwrap();
        assert_eq!(back, model, "{}", spec.name());
        let a = model.probabilities(&test);
        let b = back.probabilities(&test);
        assert_eq!(a.len(), test.x.rows());
        for (x, y) in a.iter().zip(&b) {
            assert!(x.to_bits() == y.to_bits(), "{}: {x} vs {y}", spec.name());
            assert!(x.is_nan() || (0.0..=1.0).contains(x));
        }
        assert_eq!(back.training.rows, 350);
        assert_eq!(back.training.trained_at, 1_700_000_000);
        assert_eq!(
            back.training.last_timestamp,
            train.timestamps.last().copied()
        );
    }
}

#[test]
fn a_model_of_an_unknown_version_is_a_clear_error() {
    let pre = Preprocess::default();
    let features = pre.apply(&seasonal_series(100, None)).unwrap();
    let model = TrainedModel::train(&all_specs()[0], pre, ScoreMethod::Rank, &features, 0).unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&model.to_json()).unwrap();
    doc["version"] = serde_json::json!(99);
    let err = TrainedModel::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
    assert_eq!(
        err,
        DetectError::UnsupportedModelVersion {
            found: 99,
            supported: anomstack::detect::MODEL_FORMAT_VERSION
        }
    );
    assert!(err.to_string().contains("retrain"), "{err}");
    let err = TrainedModel::from_json(b"\x80\x04pickle").unwrap_err();
    assert!(matches!(err, DetectError::BadModel(_)));
    let err = TrainedModel::from_json(br#"{"format": "other", "version": 1}"#).unwrap_err();
    assert!(err.to_string().contains("anomstack-model"), "{err}");
}

#[test]
fn too_little_history_is_a_distinct_outcome() {
    let pre = Preprocess::default();
    let features = pre.apply(&seasonal_series(12, None)).unwrap();
    let spec = DetectorSpec::from_config("KNN", &BTreeMap::new()).unwrap();
    let err = TrainedModel::train(&spec, pre, ScoreMethod::Linear, &features, 0).unwrap_err();
    assert_eq!(err, DetectError::NotEnoughRows { needed: 6, got: 4 });
}

#[test]
fn the_seasonal_band_flags_a_spike_but_not_the_season() {
    let values = seasonal_series(24 * 48 + 40, Some(24 * 48 + 20));
    let pre = Preprocess {
        diff_n: 0,
        smooth_n: 0,
        lags_n: 0,
        ..Preprocess::default()
    };
    let features = pre.apply(&values).unwrap();
    let (train, test) = split(&features, 24 * 48);
    let spec = DetectorSpec::SeasonalBand(SeasonalBandParams::default());
    let model = TrainedModel::train(&spec, pre, ScoreMethod::Linear, &train, 0).unwrap();
    let anomstack::detect::FittedDetector::SeasonalBand(state) = &model.fitted else {
        panic!()
    };
    assert_eq!(
        state.period, 48,
        "the daily season of 30-minute data is found"
    );
    let scores = model.raw_scores(&test);
    let spike = scores[20];
    let rest = scores
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 20)
        .map(|(_, s)| *s)
        .fold(0.0, f64::max);
    assert!(spike > 3.0, "spike scored {spike}");
    assert!(
        rest < spike / 3.0,
        "calm points scored up to {rest}, spike {spike}"
    );
}

#[test]
fn a_matrix_of_the_wrong_shape_is_refused() {
    assert!(Matrix::new(3, 2, vec![0.0; 5]).is_err());
}

#[test]
fn knn_models_store_lag_rows_as_their_series_and_version_1_models_still_load() {
    let pre = Preprocess::default();
    let features = pre.apply(&seasonal_series(400, Some(390))).unwrap();
    let knn = DetectorSpec::from_config("KNN", &BTreeMap::new()).unwrap();
    let model = TrainedModel::train(&knn, pre, ScoreMethod::Linear, &features, 0).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&model.to_json()).unwrap();
    let train = &doc["fitted"]["state"]["train"];
    assert!(train["data"].is_null(), "lag rows are stored as a series");
    // base64 of (rows + 5) floats rather than rows × 6.
    let stored = train["lags"].as_str().unwrap().len();
    assert_eq!(stored, ((features.x.rows() + 5) * 8).div_ceil(3) * 4);

    // The same model as version 1 wrote it: every value of the matrix.
    let mut v1 = doc.clone();
    v1["version"] = serde_json::json!(1);
    v1["fitted"]["state"]["train"] = serde_json::to_value(PlainMatrix(&features.x)).unwrap();
    let back = TrainedModel::from_json(&serde_json::to_vec(&v1).unwrap()).unwrap();
    assert_eq!(back.fitted, model.fitted);
}

/// A matrix written value by value, as format version 1 did.
struct PlainMatrix<'a>(&'a Matrix);

impl serde::Serialize for PlainMatrix<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        use serde::ser::SerializeStruct;
        let bytes: Vec<u8> = self.0.data().iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut st = s.serialize_struct("Matrix", 3)?;
        st.serialize_field("rows", &self.0.rows())?;
        st.serialize_field("cols", &self.0.cols())?;
        st.serialize_field(
            "data",
            &base64::engine::general_purpose::STANDARD.encode(bytes),
        )?;
        st.end()
    }
}
