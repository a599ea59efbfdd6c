//! Detection maths: preprocessing, detectors, calibration, combination and the portable model
//! format. Pure functions over slices and matrices: no I/O, no clocks, no async.
//!
//! A metric's points go through [`Preprocess`] into [`Features`]; a [`DetectorSpec`] (one
//! `model_configs` entry) is fitted on them into a [`TrainedModel`], which stores what scoring
//! needs and the range of its training scores. Scoring new rows gives raw outlier scores,
//! [`ScoreRange::probability`] turns them into [0, 1] like PyOD's `predict_proba`, and
//! [`combine`] merges the models of one metric.

pub mod budget;
pub mod cadence;
mod calibrate;
mod codec;
mod copod;
mod distance;
mod ecod;
mod eigen;
pub mod feedback;
mod forecast;
mod hbos;
mod iforest;
mod kdtree;
mod knn;
mod lagknn;
mod mad;
mod matrix;
mod model;
mod pca;
mod preprocess;
mod replay;
pub mod rng;
pub mod rules;
mod select;
mod sliding;
mod spec;
mod stats;
pub use stats::smoothed_scores;
mod tails;
mod zscore;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use calibrate::{Calibration, ScoreMethod, ScoreRange};
pub use copod::CopodParams;
pub use ecod::EcodParams;
pub use feedback::{FeedbackRule, Verdict};
pub use forecast::SeasonalBandParams;
pub use hbos::HbosParams;
pub use iforest::{IForestParams, MaxSamples};
pub use knn::{KnnMethod, KnnParams};
pub use mad::{MadModel, MadParams};
pub use matrix::Matrix;
pub use model::{FittedDetector, MODEL_FORMAT_VERSION, TrainedModel, TrainingInfo};
pub use pca::PcaParams;
pub use preprocess::{Aggregation, FeatureCache, Features, Preprocess};
pub use replay::{ModelPlan, ReplayRow, ReplaySettings, replay, replay_taught};
pub use rules::{AlertPoint, AlertRule, Direction};
pub use spec::{DETECTOR_NAMES, DetectorSpec};

pub use stats::{median, percentile};
pub use zscore::ZScoreParams;

/// Why a model could not be fitted or loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectError {
    /// Expected for young metrics: the job reports the metric as skipped, not failed.
    #[error("not enough rows to fit: need {needed}, have {got}")]
    NotEnoughRows { needed: usize, got: usize },
    #[error("invalid parameters: {0}")]
    Params(String),
    #[error("mismatched shapes: {0}")]
    Shape(String),
    #[error("model failed: {0}")]
    Model(String),
    #[error(
        "model format version {found} is not supported by this anomstack (it reads version {supported}); retrain the model"
    )]
    UnsupportedModelVersion { found: u32, supported: u32 },
    #[error("not an anomstack model: {0}")]
    BadModel(String),
}

/// A detector: fitted on training features, it scores rows (higher is more anomalous).
pub trait Detector {
    /// What scoring needs, serialized with the model.
    type Model: Serialize + DeserializeOwned;

    /// Fits and returns the model with the raw scores of the training rows.
    fn fit(&self, train: &Features) -> Result<(Self::Model, Vec<f64>), DetectError>;

    /// Raw scores of `rows`, scored together (ECOD and COPOD use the batch as reference).
    fn score(model: &Self::Model, rows: &Features) -> Vec<f64>;

    /// Fits and returns what calibration by `method` needs of the training scores. A detector
    /// that can find the range of its training scores without computing each one overrides
    /// this for the linear method.
    fn fit_for(
        &self,
        train: &Features,
        method: ScoreMethod,
    ) -> Result<(Self::Model, TrainingScores), DetectError> {
        let _ = method;
        let (model, scores) = self.fit(train)?;
        Ok((model, TrainingScores::All(scores)))
    }
}

/// The training scores a calibration needs: all of them, or only their range.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainingScores {
    All(Vec<f64>),
    Range(ScoreRange),
}

/// Scores rows with whatever a model prepares once (a neighbour index, a fitted forecast),
/// for callers that score many batches with one model.
pub trait RowScorer {
    fn score(&mut self, rows: &Features) -> Vec<f64>;
}

/// How a metric's per-model probabilities become its score (`model_combination_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combination {
    Mean,
    Min,
    Max,
}

/// Combines per-model probabilities of one row. Missing (NaN) probabilities are left out; with
/// none left the result is NaN and the row gets no score.
pub fn combine(method: Combination, probabilities: &[f64]) -> f64 {
    let values = probabilities.iter().copied().filter(|p| !p.is_nan());
    match method {
        Combination::Mean => {
            let (sum, n) = values.fold((0.0, 0usize), |(s, n), p| (s + p, n + 1));
            if n == 0 { f64::NAN } else { sum / n as f64 }
        }
        Combination::Min => values.reduce(f64::min).unwrap_or(f64::NAN),
        Combination::Max => values.reduce(f64::max).unwrap_or(f64::NAN),
    }
}

/// Combines per-model answers of one row, (probability, extreme): the combined probability,
/// and whether every model that answered found the row extreme.
pub fn combine_answers(method: Combination, answers: &[(f64, bool)]) -> (f64, bool) {
    let probabilities: Vec<f64> = answers.iter().map(|a| a.0).collect();
    let mut answered = answers.iter().filter(|a| !a.0.is_nan()).peekable();
    let extreme = answered.peek().is_some() && answered.all(|a| a.1);
    (combine(method, &probabilities), extreme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_extreme_when_every_model_that_answered_says_so() {
        let c = Combination::Mean;
        assert_eq!(combine_answers(c, &[(1.0, true), (1.0, true)]), (1.0, true));
        assert_eq!(
            combine_answers(c, &[(1.0, true), (0.5, false)]),
            (0.75, false)
        );
        assert_eq!(
            combine_answers(c, &[(1.0, true), (f64::NAN, false)]),
            (1.0, true)
        );
        assert!(!combine_answers(c, &[(f64::NAN, true)]).1);
    }

    #[test]
    fn combination_skips_missing_probabilities() {
        assert_eq!(combine(Combination::Mean, &[0.2, 0.4]), 0.30000000000000004);
        assert_eq!(combine(Combination::Min, &[0.2, f64::NAN, 0.4]), 0.2);
        assert_eq!(combine(Combination::Max, &[0.2, 0.4]), 0.4);
        assert_eq!(combine(Combination::Mean, &[f64::NAN, 0.5]), 0.5);
        assert!(combine(Combination::Mean, &[f64::NAN]).is_nan());
    }
}
