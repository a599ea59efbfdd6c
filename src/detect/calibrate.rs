//! From raw outlier scores to probabilities: PyOD's `predict_proba(method="linear")`, a
//! min-max scaling against the detector's own training scores, clipped to [0, 1]. A score
//! above everything seen in training is 1; one below everything is 0.

use serde::{Deserialize, Serialize};

/// The range of a detector's training scores (NaNs ignored, as scikit-learn's MinMaxScaler
/// does). Stored with every model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreRange {
    #[serde(with = "super::codec::float")]
    pub min: f64,
    #[serde(with = "super::codec::float")]
    pub max: f64,
}

impl ScoreRange {
    pub fn of(scores: &[f64]) -> Self {
        let finite = scores.iter().copied().filter(|s| !s.is_nan());
        let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s), hi.max(s))
        });
        if min > max {
            // every score was NaN
            Self {
                min: f64::NAN,
                max: f64::NAN,
            }
        } else {
            Self { min, max }
        }
    }

    /// The outlier probability of a raw score. A range narrower than 10 machine epsilons counts
    /// as 1, as in scikit-learn, so a detector whose training scores are all equal gives 0 for
    /// that score and 1 for anything above it. NaN stays NaN.
    pub fn probability(&self, score: f64) -> f64 {
        let mut range = self.max - self.min;
        if range < 10.0 * f64::EPSILON {
            range = 1.0;
        }
        let scale = 1.0 / range;
        let offset = -self.min * scale;
        let p = score * scale + offset;
        if p.is_nan() { p } else { p.clamp(0.0, 1.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_scaled_against_the_training_range_and_clipped() {
        let r = ScoreRange::of(&[1.0, 3.0, 2.0]);
        assert_eq!(r.probability(2.0), 0.5);
        assert_eq!(r.probability(10.0), 1.0);
        assert_eq!(r.probability(-5.0), 0.0);
        assert!(r.probability(f64::NAN).is_nan());
    }

    #[test]
    fn a_degenerate_range_counts_as_one() {
        let r = ScoreRange::of(&[4.0, 4.0]);
        assert_eq!(r.probability(4.0), 0.0);
        assert_eq!(r.probability(4.5), 0.5);
        let nan = ScoreRange::of(&[f64::NAN]);
        assert!(nan.probability(1.0).is_nan());
    }
}

/// How raw scores become probabilities (`model_score_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScoreMethod {
    /// PyOD's `predict_proba(method="linear")`: min-max against the training scores.
    #[default]
    Linear,
    /// PyOD's `predict_proba(method="unify")`: erf of the score standardised by the training
    /// scores' mean and standard deviation, clipped to [0, 1].
    Unify,
    /// The share of training scores strictly below the score: a conformal p-value, comparable
    /// across metrics and detectors whatever their scales or score distributions.
    Rank,
}

/// What a model keeps to calibrate its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Calibration {
    Linear,
    Unify {
        #[serde(with = "super::codec::float")]
        mean: f64,
        #[serde(with = "super::codec::float")]
        std: f64,
    },
    Rank {
        /// Training scores, ascending, NaNs left out.
        #[serde(with = "super::codec::floats")]
        sorted: Vec<f64>,
    },
}

impl Calibration {
    pub fn fit(method: ScoreMethod, train_scores: &[f64]) -> Self {
        let finite: Vec<f64> = train_scores
            .iter()
            .copied()
            .filter(|s| !s.is_nan())
            .collect();
        match method {
            ScoreMethod::Linear => Calibration::Linear,
            ScoreMethod::Unify => {
                let n = finite.len() as f64;
                let mean = finite.iter().sum::<f64>() / n;
                let var = finite.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
                Calibration::Unify {
                    mean,
                    std: var.sqrt(),
                }
            }
            ScoreMethod::Rank => {
                let mut sorted = finite;
                sorted.sort_by(f64::total_cmp);
                Calibration::Rank { sorted }
            }
        }
    }

    /// The probability of a raw score; `range` serves the linear method.
    pub fn probability(&self, range: &ScoreRange, score: f64) -> f64 {
        if score.is_nan() {
            return f64::NAN;
        }
        match self {
            Calibration::Linear => range.probability(score),
            Calibration::Unify { mean, std } => {
                let z = (score - mean) / (std * std::f64::consts::SQRT_2);
                if z.is_nan() {
                    if score > *mean { 1.0 } else { 0.0 }
                } else {
                    erf(z).clamp(0.0, 1.0)
                }
            }
            Calibration::Rank { sorted } => {
                if sorted.is_empty() {
                    return f64::NAN;
                }
                sorted.partition_point(|s| *s < score) as f64 / sorted.len() as f64
            }
        }
    }
}

/// The error function (Abramowitz and Stegun 7.1.26 refined by a series for small |x|;
/// absolute error below 1.2e-7), enough for a probability.
fn erf(x: f64) -> f64 {
    if x.is_infinite() {
        return x.signum();
    }
    // W. J. Cody's rational approximation is overkill here; this one is accurate to ~1e-7.
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let tau = t
        * (-x * x - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { 1.0 - tau } else { tau - 1.0 }
}

#[cfg(test)]
mod method_tests {
    use super::*;

    #[test]
    fn rank_is_the_share_of_training_scores_below() {
        let c = Calibration::fit(ScoreMethod::Rank, &[3.0, 1.0, 2.0, 4.0]);
        let r = ScoreRange::of(&[1.0, 4.0]);
        assert_eq!(c.probability(&r, 2.5), 0.5);
        assert_eq!(c.probability(&r, 1.0), 0.0);
        assert_eq!(c.probability(&r, 9.0), 1.0);
    }

    #[test]
    fn unify_is_the_erf_of_the_standard_score() {
        let c = Calibration::fit(ScoreMethod::Unify, &[0.0, 2.0]);
        let r = ScoreRange::of(&[0.0, 2.0]);
        assert_eq!(c.probability(&r, 1.0), 0.0);
        assert!((c.probability(&r, 1.0 + std::f64::consts::SQRT_2) - 0.842_700_79).abs() < 1e-6);
        assert_eq!(c.probability(&r, -5.0), 0.0);
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 2e-7);
    }
}
