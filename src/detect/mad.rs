//! Median absolute deviation, as PyOD's `MAD`: univariate (the first feature column, or the
//! raw values in change detection). Score = 0.6745·|x − median| / MAD, with 0/0 → 0 and
//! x/0 → the largest double, as NumPy's `nan_to_num` leaves them.

use serde::{Deserialize, Serialize};

use super::stats::median;
use super::{DetectError, Detector, Features};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MadParams {
    /// Modified z-score above which a value counts as an outlier (for labels, not scores).
    pub threshold: f64,
}

impl Default for MadParams {
    fn default() -> Self {
        Self { threshold: 3.5 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MadModel {
    #[serde(with = "super::codec::float")]
    pub median: f64,
    #[serde(with = "super::codec::float")]
    pub mad: f64,
    pub threshold: f64,
}

impl MadModel {
    /// Fits on plain values.
    pub fn fit_values(values: &[f64], threshold: f64) -> Result<Self, DetectError> {
        if values.is_empty() {
            return Err(DetectError::NotEnoughRows { needed: 1, got: 0 });
        }
        let m = median(values);
        let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
        Ok(Self {
            median: m,
            mad: median(&deviations),
            threshold,
        })
    }

    /// The modified z-score of one value.
    pub fn score_value(&self, v: f64) -> f64 {
        nan_to_num(0.6745 * (v - self.median).abs() / self.mad)
    }
}

/// NumPy's `nan_to_num`: NaN → 0, ±inf → ±largest double.
pub fn nan_to_num(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else if v == f64::INFINITY {
        f64::MAX
    } else if v == f64::NEG_INFINITY {
        f64::MIN
    } else {
        v
    }
}

impl Detector for MadParams {
    type Model = MadModel;

    fn fit(&self, train: &Features) -> Result<(MadModel, Vec<f64>), DetectError> {
        let values = train.x.column(0);
        let model = MadModel::fit_values(&values, self.threshold)?;
        let scores = values.iter().map(|&v| model.score_value(v)).collect();
        Ok((model, scores))
    }

    fn score(model: &MadModel, rows: &Features) -> Vec<f64> {
        rows.x
            .iter_rows()
            .map(|r| model.score_value(r[0]))
            .collect()
    }
}
